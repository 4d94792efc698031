"""The part-experts cascade (estimator `experts` of the pose node, the default): MediaPipe's detectors and
landmark models run per person and per part, tracked across frames, assembled into one metric
whole-body pose per person.

estimator.py wires the cascade (PartExpertsEstimator); networks.py runs the models on image regions
(roi.py: MediaPipe's crop rules); tracks.py and schedule.py follow people between detections;
parts.py finds their hands and faces; assemble.py lifts and filters each pose; phantoms.py and
plausibility.py drop phantom bodies and mark implausible arms; hand_only.py and face_only.py
publish the hands and faces no body holds.
"""
