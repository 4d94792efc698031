"""The part-experts cascade (estimator `experts` of the pose node, the default): MediaPipe's detectors and
landmark models run per person and per part, tracked across frames, assembled into one metric
whole-body pose per person.

estimator.py wires the cascade (PartExpertsEstimator; loading.py opens its models, networks.py runs
them on image regions, roi.py holds MediaPipe's crop rules); newcomers.py looks for new people and
palms on schedule.py's frames; people.py tracks the bodies (tracks.py); parts.py finds their hands
and faces; assemble.py lifts and filters each pose; checks.py drops phantom bodies (phantoms.py)
and marks implausible arms (plausibility.py); hand_only.py and face_only.py publish the hands and
faces no body holds.
"""
