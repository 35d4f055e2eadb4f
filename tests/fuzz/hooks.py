"""Checks of our own for schemathesis, loaded through SCHEMATHESIS_HOOKS.

`no_other_tenants_data`: the run uses one tenant's key, and every text of the other tenant
carries a marker (MILLWRIGHT_FUZZ_FORBIDDEN); no answer may contain it, whatever the request.
"""

import os

import schemathesis

FORBIDDEN = os.environ["MILLWRIGHT_FUZZ_FORBIDDEN"].lower()


@schemathesis.check
def no_other_tenants_data(ctx, response, case):
    if FORBIDDEN in response.text.lower():
        raise AssertionError(
            f"the answer carries the other tenant's data ({FORBIDDEN!r}): {response.text[:300]}"
        )
