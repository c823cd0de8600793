"""Uploads: no request may stream a file past RETAILOPS["MAX_UPLOAD_BYTES"] to memory or disk.

Installed first in FILE_UPLOAD_HANDLERS, so it guards every multipart body — the import page's and any other
page's or API endpoint's (DRF's MultiPartParser uses the same handlers). The import page reads
`request.upload_too_big` to answer 413 with the limit; elsewhere the file is simply not received.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops reading an upload as soon as a file passes the limit: nothing past it is kept in memory or on disk."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.RETAILOPS["MAX_UPLOAD_BYTES"]

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            if self.request is not None:
                self.request.upload_too_big = True
            raise StopUpload(connection_reset=False)
        return raw_data  # passed on to the next handler (memory for a small file, else a temporary file)

    def file_complete(self, file_size):
        return None
