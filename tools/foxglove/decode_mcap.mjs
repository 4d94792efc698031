// Decode every message of an MCAP file the way Foxglove does: @mcap/core's indexed reader with
// @mcap/support's decompressors, each ros2msg schema parsed by @foxglove/rosmsg and its CDR data read
// by @foxglove/rosmsg2-serialization.  Prints one JSON object: per topic its schema, the number of
// messages and each message in a canonical form (large numeric arrays as length, sum and head), so a
// test can compare it field by field with what the installed ROS types decode.
//   node tools/foxglove/decode_mcap.mjs EPISODE.mcap
import { open } from "node:fs/promises";
import { McapIndexedReader } from "@mcap/core";
import { loadDecompressHandlers } from "@mcap/support";
import { parse } from "@foxglove/rosmsg";
import { MessageReader } from "@foxglove/rosmsg2-serialization";

const LARGE = 64;

function canonical(value) {
  if (typeof value === "bigint") return Number(value);
  if (ArrayBuffer.isView(value)) value = Array.from(value, Number);
  if (Array.isArray(value)) {
    const numeric = value.length > 0 && value.every((v) => typeof v === "number");
    if (numeric && value.length > LARGE) {
      return { len: value.length, sum: value.reduce((a, b) => a + b, 0), head: value.slice(0, 8) };
    }
    return value.map(canonical);
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

async function main(path) {
  const handle = await open(path, "r");
  const readable = {
    size: async () => BigInt((await handle.stat()).size),
    read: async (offset, length) => {
      const buffer = new Uint8Array(Number(length));
      await handle.read(buffer, 0, buffer.length, Number(offset));
      return buffer;
    },
  };
  const reader = await McapIndexedReader.Initialize({ readable, decompressHandlers: await loadDecompressHandlers() });
  const readers = new Map();
  const topics = {};
  for (const channel of reader.channelsById.values()) {
    const schema = reader.schemasById.get(channel.schemaId);
    const entry = { schema: schema.name, encoding: schema.encoding, messages: [], error: null };
    topics[channel.topic] = entry;
    try {
      const text = new TextDecoder().decode(schema.data);
      readers.set(channel.id, new MessageReader(parse(text, { ros2: true })));
    } catch (error) {
      entry.error = String(error.message ?? error);
    }
  }
  for await (const message of reader.readMessages()) {
    const channel = reader.channelsById.get(message.channelId);
    const entry = topics[channel.topic];
    const decoder = readers.get(channel.id);
    if (decoder === undefined) continue;
    try {
      entry.messages.push(canonical(decoder.readMessage(message.data)));
    } catch (error) {
      entry.error ??= String(error.message ?? error);
    }
  }
  await handle.close();
  process.stdout.write(JSON.stringify({ profile: reader.header.profile, topics }) + "\n");
}

main(process.argv[2]).catch((error) => {
  process.stderr.write(`decode_mcap: ${error.stack ?? error}\n`);
  process.exit(1);
});
