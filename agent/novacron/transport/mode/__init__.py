"""transport/mode: the mode service (samples in, a live mode out, with metrics) and how channels
follow a mode switch while they run."""

from novacron.transport.mode.bind import ChannelBinding, bind_channel
from novacron.transport.mode.live_settings import LiveSettings, Subscription, SwitchReport
from novacron.transport.mode.service import ModeService

__all__ = ["ChannelBinding", "LiveSettings", "ModeService", "Subscription", "SwitchReport", "bind_channel"]
