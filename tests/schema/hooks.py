"""Schemathesis hooks for the schema test (tests/system/schema.rs).

A body the OpenAPI document allows must never be refused for its shape:
the only 4xx it may get are the business outcomes each route documents
(an email already registered, a wrong token or password, a reused
Idempotency-Key). `business_outcomes_only` holds every positive case to
that, message by message, so a 422 "Validation failed" for a field rule the
schema did not state fails the run.
"""

import re

import schemathesis
from schemathesis.generation import GenerationMode

# Per route: status -> {field: allowed messages} (an empty map: no field errors).
BUSINESS = {
    "/api/v1/patient/register": {
        401: {},  # a partner key that was generated, not issued
        409: {},  # the same Idempotency-Key still being accepted
        422: {
            "email": {"Email is already registered"},
            "phone_number": {"Phone number is already registered"},
            "Idempotency-Key": {
                "This Idempotency-Key was already used with a different request payload"
            },
        },
    },
    # Batches need an issued partner key, which the generated requests do
    # not have; with one, the schema cannot say that each item's client_ref
    # is unique within the batch, nor reuse of a key.
    "/api/v1/patient/registration-batches": {
        401: {},
        409: {},
        422: {
            "items[].client_ref": {"Client ref is already used by an earlier item"},
            "Idempotency-Key": {
                "This Idempotency-Key was already used with a different request payload"
            },
        },
    },
    # A made-up batch id or cursor: unknown, or not its own.
    "/api/v1/patient/registration-batches/{batch_id}": {
        401: {},
        404: {},
        422: {"cursor": {"Cursor is not one this API returned"}},
    },
    "/api/v1/patient/login": {401: {}, 403: {}, 429: {}},
    "/api/v1/patient/verify-email": {400: {}, 429: {}},
    "/api/v1/patient/resend-verification": {},
    # Ids and tokens the client made up: unknown, or not its own.
    "/api/v1/patient/registrations/{request_id}": {404: {}},
    # DELETE (deactivation) shares the path: the generated requests hold no
    # valid access token, so it refuses them (401) before judging the body.
    "/api/v1/patient/profile/{patient_id}": {401: {}, 403: {}, 404: {}},
    # Codes need an access token the generated requests do not have.
    "/api/v1/patient/phone/verification": {401: {}},
    "/api/v1/patient/phone/verification/confirm": {401: {}},
    # Made-up refresh tokens; sessions the client does not hold.
    "/api/v1/patient/token/refresh": {401: {}, 429: {}},
    "/api/v1/patient/logout": {401: {}},
    # The schema cannot say that two fields are equal, nor how many emails
    # an address may ask for.
    "/api/v1/patient/forgot-password": {429: {}},
    "/api/v1/patient/reset-password": {
        400: {},
        422: {"confirm_password": {"Passwords do not match"}},
        429: {},
    },
    "/api/v1/patient/change-password": {
        401: {},
        403: {},
        422: {"confirm_password": {"Passwords do not match"}},
        429: {},
    },
    # The generated requests hold no valid access token (401 before the
    # body is judged), nor a token from an email change link.
    "/api/v1/patient/change-email": {401: {}},
    "/api/v1/patient/confirm-email-change": {400: {}, 429: {}},
}


def _judge(case, response):
    """Raises unless a schema-valid request got 2xx or a business outcome."""
    status = response.status_code
    if status < 400 or status >= 500:
        return
    allowed = BUSINESS.get(case.operation.path, {})
    if status not in allowed:
        raise AssertionError(
            f"a schema-valid request got {status}: {response.text[:500]}"
        )
    errors = response.json().get("errors") or {}
    for field, messages in errors.items():
        # An item's field is judged whatever its index: items[7].x -> items[].x
        permitted = allowed[status].get(re.sub(r"\[\d+\]", "[]", field), set())
        unexpected = [m for m in messages if m not in permitted]
        if unexpected:
            raise AssertionError(
                f"a schema-valid request was refused on {field!r}: {unexpected}"
            )


@schemathesis.check
class business_outcomes_only:
    """A schema-valid request gets 2xx or one of its route's business
    outcomes; and the run must have judged schema-valid requests of every
    route in BUSINESS, or this check proved nothing."""

    def __init__(self):
        self.judged = set()

    def after_response(self, ctx, response, case):
        if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
            return
        self.judged.add(case.operation.path)
        _judge(case, response)

    def after_run(self, ctx):
        missing = set(BUSINESS) - self.judged
        if missing:
            raise AssertionError(f"no schema-valid request was judged for {sorted(missing)}")
