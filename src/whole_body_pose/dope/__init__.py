"""DOPE: one whole-body network distilled from the part experts (estimator `dope` of the pose node).

Importing the package registers the estimator with the estimator registry; the network and its
runtime load only when the estimator is built.
"""
from whole_body_pose.pipeline import register_estimator

register_estimator("dope", "whole_body_pose.dope.estimator:build_dope_estimator")
