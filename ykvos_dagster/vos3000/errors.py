"""Errors of the VOS3000 Web API client. Each names the instance and the interface, and the
account, day and VOS return code where they apply."""

from __future__ import annotations

import datetime as dt


class VosError(Exception):
    """A VOS3000 request that did not produce a usable reply."""

    def __init__(
        self,
        reason: str,
        *,
        instance: str,
        interface: str,
        ret_code: int | None = None,
        vos_message: str | None = None,
        account: str | None = None,
        day: dt.date | None = None,
    ) -> None:
        self.reason = reason
        self.instance = instance
        self.interface = interface
        self.ret_code = ret_code
        self.vos_message = vos_message
        self.account = account
        self.day = day
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"instance={self.instance}", f"interface={self.interface}"]
        if self.account is not None:
            parts.append(f"account={self.account!r}")
        if self.day is not None:
            parts.append(f"day={self.day.isoformat()}")
        if self.ret_code is not None:
            parts.append(f"retCode={self.ret_code}")
        if self.vos_message:
            parts.append(f"exception={self.vos_message!r}")
        return f"{self.reason} ({', '.join(parts)})"

    def with_context(self, *, account: str | None = None, day: dt.date | None = None) -> VosError:
        """Return a copy of this error that also names the account and day."""
        return type(self)(
            self.reason,
            instance=self.instance,
            interface=self.interface,
            ret_code=self.ret_code,
            vos_message=self.vos_message,
            account=account if account is not None else self.account,
            day=day if day is not None else self.day,
        )


class VosReturnCodeError(VosError):
    """The switch replied with a non-zero retCode."""


class VosTransportError(VosError):
    """No valid JSON reply: connection failure, timeout, HTTP error, empty or non-JSON body.

    `transient` is False for replies that another attempt cannot change, such as HTTP 404.
    """

    transient = True


class VosPermanentTransportError(VosTransportError):
    """An HTTP status that another attempt cannot change (4xx other than 408 and 429)."""

    transient = False


class VosDecodeError(VosError):
    """A reply whose content breaks the documented format (for example a CDR without flowNo)."""


# Return codes documented or observed for the Web API. Values other than 0 mean failure.
RET_CODE_INPUT_PARAMETER_ERROR = -10124
RET_CODE_SPAN_LIMIT = -10033
RET_CODE_MISSING_PARAMETERS = -12103
RET_CODE_NOT_FOUND = -10007

# The JSP layer returns F_ERROR_TIMEOUT when its backend does not reply in time. The vendor's
# value is not published.
# NOTE: -10006 is a placeholder chosen for the simulator; replace it once a real capture shows
# the switch's value.
RET_CODE_BACKEND_TIMEOUT = -10006

# Return codes that reject the request itself, so that sending it again cannot succeed.
VALIDATION_RET_CODES = frozenset(
    {RET_CODE_INPUT_PARAMETER_ERROR, RET_CODE_SPAN_LIMIT, RET_CODE_MISSING_PARAMETERS}
)
# Return codes worth another attempt after a pause.
TRANSIENT_RET_CODES = frozenset({RET_CODE_BACKEND_TIMEOUT})
