"""dwcp/mode: link classification, mode detection with hysteresis, live settings switch, v3 rollout."""

from novacron.dwcp.mode.bind import ChannelBinding, bind_channel
from novacron.dwcp.mode.classifier import Thresholds, classify, combine
from novacron.dwcp.mode.detector import DetectorStatus, LinkSample, ModeChanged, ModeDetector
from novacron.dwcp.mode.live_settings import LiveSettings, Subscription, SwitchReport
from novacron.dwcp.mode.profiles import ModeProfile, all_profiles, profile_for
from novacron.dwcp.mode.rollout import Flags, effective_flags, in_rollout, rollout_bucket
from novacron.dwcp.mode.service import ModeService

__all__ = [
    "ChannelBinding",
    "DetectorStatus",
    "Flags",
    "LinkSample",
    "LiveSettings",
    "ModeChanged",
    "ModeDetector",
    "ModeProfile",
    "ModeService",
    "Subscription",
    "SwitchReport",
    "Thresholds",
    "all_profiles",
    "bind_channel",
    "classify",
    "combine",
    "effective_flags",
    "in_rollout",
    "profile_for",
    "rollout_bucket",
]
