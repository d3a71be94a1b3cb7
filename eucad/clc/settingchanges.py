"""Who hears that the administrator saved settings on the configuration tab.

The web pages store a setting in ``cloud_settings`` and then publish the
saved ``{key: value}`` here; each part of the CLC that keeps a setting in
force while it runs subscribes and takes what concerns it: the cluster
settings publisher (the name servers, ``eucad.clc.settingspush``) and the
image services (the image cache's size).  At start each of them reads the
stored rows itself, so a restart needs no publication.
"""

from twisted.logger import Logger

log = Logger()


class SettingChanges:
    """The observers of saved settings."""

    def __init__(self):
        self._observers = []

    def subscribe(self, observer):
        """Call ``observer(values)`` for every save from now on."""
        self._observers.append(observer)

    def unsubscribe(self, observer):
        self._observers.remove(observer)

    def publish(self, values):
        """Tell every observer the ``{key: value}`` just saved; one's failure is logged."""
        for observer in list(self._observers):
            try:
                observer(values)
            except Exception:
                log.failure("setting observer failed on {keys}", keys=sorted(values))
