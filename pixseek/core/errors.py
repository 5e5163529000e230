"""One error hierarchy: services raise these, the API renders them with one handler."""

from __future__ import annotations


class PixseekError(Exception):
    """Base of every error a user can cause or fix; carries an HTTP status and a code."""

    status_code = 400
    code = "bad_request"
    # Response headers the error needs (WWW-Authenticate on a 401, Retry-After on a 429).
    headers: dict[str, str] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(PixseekError):
    status_code = 400
    code = "invalid_request"


class InvalidRegion(InvalidRequest):
    """A box that does not describe a region of the image that can be searched for."""

    status_code = 422
    code = "invalid_region"


class ImageNotFound(PixseekError):
    status_code = 404
    code = "image_not_found"


class UploadNotFound(PixseekError):
    """A multipart search part that names an upload the request did not send."""

    status_code = 404
    code = "upload_not_found"


class JobNotFound(PixseekError):
    status_code = 404
    code = "job_not_found"


class BucketNotFound(PixseekError):
    status_code = 404
    code = "bucket_not_found"


class Unauthorized(PixseekError):
    """No API key, or one that is unknown or revoked."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(PixseekError):
    status_code = 403
    code = "forbidden"


class InsufficientScope(Forbidden):
    """A valid key whose scope does not cover the route."""

    code = "insufficient_scope"


class CsrfRejected(Forbidden):
    """A state-changing request from a browser session without its CSRF token."""

    code = "csrf_rejected"


class IngestNotAllowed(Forbidden):
    """A bucket the API may not read: outside PIXSEEK_INGEST_ROOTS or PIXSEEK_INGEST_BUCKETS."""

    code = "ingest_not_allowed"


class ApiKeyNotFound(PixseekError):
    status_code = 404
    code = "api_key_not_found"


class IndexNotReady(PixseekError):
    status_code = 409
    code = "index_not_ready"


class ModelMismatch(PixseekError):
    status_code = 409
    code = "model_mismatch"


class PayloadTooLarge(PixseekError):
    status_code = 413
    code = "payload_too_large"


class RangeNotSatisfiable(PixseekError):
    """A `Range` header that names no byte of the file (a video served in parts)."""

    status_code = 416
    code = "range_not_satisfiable"


class TryAgainLater(PixseekError):
    """An error that tells the client when to try again (`Retry-After`, in seconds)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class RateLimited(TryAgainLater):
    """Too many requests from one key (or one address while the API is open)."""

    status_code = 429
    code = "rate_limited"


class UnsupportedImage(PixseekError):
    status_code = 415
    code = "unsupported_image"


class ConfigError(PixseekError):
    status_code = 500
    code = "config_error"


class WeightsUnavailable(ConfigError):
    """Pretrained weights that are not on this machine and cannot be downloaded now."""

    status_code = 503
    code = "weights_unavailable"


class BrokerUnavailable(PixseekError):
    status_code = 503
    code = "broker_unavailable"


class DatabaseUnavailable(TryAgainLater):
    """The catalog database cannot be reached (a restart, a failover): try again shortly."""

    status_code = 503
    code = "database_unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, retry_after)


class DiskFull(PixseekError):
    """A write failed for want of space (or quota): nothing half-written was published."""

    status_code = 507
    code = "disk_full"


class JobNotCancellable(PixseekError):
    """The job has already finished (done, failed or cancelled)."""

    status_code = 409
    code = "job_not_cancellable"
