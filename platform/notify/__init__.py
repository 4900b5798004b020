"""Notifications: message types, one row per recipient and channel, delivery by arq jobs.

``service.notify`` records messages inside the caller's transaction; after commit the
delivery job (``delivery``) hands them to channels in batches, with throttles, quiet hours,
retries and back-off. See docs/notify.md.
"""
