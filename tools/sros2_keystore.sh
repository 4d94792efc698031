#!/usr/bin/env bash
# A minimal SROS2 keystore made with openssl alone (the `ros2 security` CLI, package sros2, is not on
# PyPI): one self-signed CA serving as identity and permissions CA, signed governance (everything
# encrypted, unauthenticated participants refused) and, per enclave, a key, a certificate and signed
# permissions allowing everything in the domain.  Usage: tools/sros2_keystore.sh KEYSTORE ENCLAVE...
# (enclaves like /teleop/pose_retarget).  On a ROS install prefer `ros2 security create_keystore` and
# `ros2 security create_enclave`, which also write per-node permissions from policy files.
set -euo pipefail
keystore=$1; shift
mkdir -p "$keystore/public" "$keystore/private" "$keystore/enclaves"
ca_key=$keystore/private/ca.key.pem ca_cert=$keystore/public/ca.cert.pem
if [[ ! -f $ca_cert ]]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$ca_key"
  openssl req -new -x509 -sha256 -days 3650 -key "$ca_key" -out "$ca_cert" -subj "/CN=whole_body_teleop_ca"
  cp "$ca_key" "$keystore/private/identity_ca.key.pem"; cp "$ca_key" "$keystore/private/permissions_ca.key.pem"
  cp "$ca_cert" "$keystore/public/identity_ca.cert.pem"; cp "$ca_cert" "$keystore/public/permissions_ca.cert.pem"
  cat > "$keystore/enclaves/governance.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><domain_access_rules><domain_rule>
  <domains><id_range><min>0</min><max>232</max></id_range></domains>
  <allow_unauthenticated_participants>false</allow_unauthenticated_participants>
  <enable_join_access_control>true</enable_join_access_control>
  <discovery_protection_kind>ENCRYPT</discovery_protection_kind>
  <liveliness_protection_kind>ENCRYPT</liveliness_protection_kind>
  <rtps_protection_kind>SIGN</rtps_protection_kind>
  <topic_access_rules><topic_rule><topic_expression>*</topic_expression>
    <enable_discovery_protection>true</enable_discovery_protection><enable_liveliness_protection>false</enable_liveliness_protection>
    <enable_read_access_control>true</enable_read_access_control><enable_write_access_control>true</enable_write_access_control>
    <metadata_protection_kind>ENCRYPT</metadata_protection_kind><data_protection_kind>ENCRYPT</data_protection_kind>
  </topic_rule></topic_access_rules>
</domain_rule></domain_access_rules></dds>
XML
  openssl smime -sign -text -in "$keystore/enclaves/governance.xml" -out "$keystore/enclaves/governance.p7s" \
    -signer "$ca_cert" -inkey "$ca_key"
fi
for enclave in "$@"; do
  dir=$keystore/enclaves/${enclave#/}; mkdir -p "$dir"
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/key.pem"
  openssl req -new -sha256 -key "$dir/key.pem" -out "$dir/req.pem" -subj "/CN=${enclave//\//\\/}"
  openssl x509 -req -sha256 -days 3650 -in "$dir/req.pem" -CA "$ca_cert" -CAkey "$ca_key" -CAcreateserial \
    -out "$dir/cert.pem" 2>/dev/null
  rm "$dir/req.pem"
  cat > "$dir/permissions.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><permissions><grant name="${enclave}">
  <subject_name>CN=${enclave}</subject_name>
  <validity><not_before>2020-01-01T00:00:00</not_before><not_after>2035-01-01T00:00:00</not_after></validity>
  <allow_rule><domains><id_range><min>0</min><max>232</max></id_range></domains>
    <publish><topics><topic>*</topic></topics></publish><subscribe><topics><topic>*</topic></topics></subscribe>
  </allow_rule><default>DENY</default>
</grant></permissions></dds>
XML
  openssl smime -sign -text -in "$dir/permissions.xml" -out "$dir/permissions.p7s" -signer "$ca_cert" -inkey "$ca_key"
  cp "$keystore/public/identity_ca.cert.pem" "$keystore/public/permissions_ca.cert.pem" "$dir/"
  cp "$keystore/enclaves/governance.p7s" "$dir/"
done
