import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from sqlalchemy.exc import OperationalError

from common.errors import DataValidationError, ServiceUnavailableError
from common.retry import call_with_retry, is_transient
from common.settings import RetryCfg

FAST = RetryCfg(attempts=3, initial_wait_s=0.0, max_wait_s=0.0)


def _client_error(status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": str(status)}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError("refused"), True),
        (TimeoutError("slow"), True),
        (
            OperationalError(
                "SELECT 1", {}, Exception('connection to server at "db" failed: Connection refused')
            ),
            True,
        ),
        (OperationalError("SELECT 1", {}, Exception('database "shop" does not exist')), False),
        (EndpointConnectionError(endpoint_url="http://minio:9000"), True),
        (_client_error(503), True),
        (_client_error(404), False),
        (ValueError("bad value"), False),
        (DataValidationError("age out of range"), False),
        (ServiceUnavailableError("warehouse unreachable"), True),
    ],
)
def test_only_transient_errors_are_retried(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_cause_chain_is_searched() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("upload failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_transient_error_is_retried_and_each_attempt_logged(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("refused")
        return "ok"

    with caplog.at_level(logging.WARNING):
        assert call_with_retry(flaky, FAST, "extract") == "ok"
    assert len(calls) == 3
    assert [r.message.split(":")[1].strip()[:12] for r in caplog.records] == ["attempt 1/3 ", "attempt 2/3 "]


def test_gives_up_after_the_configured_attempts() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError):
        call_with_retry(down, FAST, "extract")
    assert len(calls) == 3


def test_permanent_error_is_not_retried() -> None:
    calls = []

    def bad() -> None:
        calls.append(1)
        raise DataValidationError("table is empty")

    with pytest.raises(DataValidationError):
        call_with_retry(bad, FAST, "extract")
    assert len(calls) == 1
