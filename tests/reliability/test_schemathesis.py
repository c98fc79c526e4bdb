"""schemathesis over the running service's OpenAPI document, with a panel key (issue 10).

One bounded run (every check, a few dozen examples per operation, a fixed seed, only
127.0.0.1) serves both tests: no request may get a server error, and every answer must be
one the published document describes (status, content type, body schema), so that a
client generated from the document works.
"""

from __future__ import annotations

import pytest
from probes import run_schemathesis

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.timeout(300)]

MAX_EXAMPLES = 40  # per operation: bounded for CI (benchmarks/reliability.py runs more)
SERVER_ERRORS = {"ST101", "ST102"}  # schemathesis's codes for a 5xx answer


@pytest.fixture(scope="module")
def schemathesis_run(serve, trained_home, tmp_path_factory):
    server = serve(trained_home.env(), roles=("panel",))
    return run_schemathesis(
        server.base, server.keys["panel"], tmp_path_factory.mktemp("schemathesis"), max_examples=MAX_EXAMPLES
    )


def test_no_generated_request_gets_a_server_error(schemathesis_run):
    run = schemathesis_run
    assert not run.errors, "\n".join(run.errors) + "\n" + run.output[-4000:]
    failing = {op: codes & SERVER_ERRORS for op, codes in run.failures.items() if codes & SERVER_ERRORS}
    assert not failing, f"{failing}\n{run.output[-6000:]}"


def test_every_answer_conforms_to_the_published_schema(schemathesis_run):
    run = schemathesis_run
    assert run.returncode == 0 and not run.failures, f"{run.failures}\n{run.output[-6000:]}"
