"""dwcp/mode: link classification, mode detection with hysteresis, mode profiles, v3 rollout (sans-I/O).

The service that feeds it samples and applies its decisions lives a floor up (transport/mode).
"""

from novacron.dwcp.mode.classifier import Thresholds, classify, combine
from novacron.dwcp.mode.detector import DetectorStatus, LinkSample, ModeChanged, ModeDetector
from novacron.dwcp.mode.profiles import ModeProfile, all_profiles, profile_for
from novacron.dwcp.mode.rollout import Flags, effective_flags, in_rollout, rollout_bucket

__all__ = [
    "DetectorStatus",
    "Flags",
    "LinkSample",
    "ModeChanged",
    "ModeDetector",
    "ModeProfile",
    "Thresholds",
    "all_profiles",
    "classify",
    "combine",
    "effective_flags",
    "in_rollout",
    "profile_for",
    "rollout_bucket",
]
