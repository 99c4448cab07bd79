"""Property-based tests of the sans-I/O core (`loctocat._flow`), stepped with a fake clock.

`make test` runs them with a small budget. The long fuzz, 100,000 examples per property:

    make fuzz    # = HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest tests/fuzz -q

See `fuzz_support.py` for the strategies and `test_regressions.py` for the bugs they found.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import traceback
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fuzz_support import (
    ARRIVED,
    SECRET_ALPHABET,
    START,
    TO_DICT_OWN,
    TOKEN_KNOWN,
    Clock,
    Run,
    configs,
    cycle_answers,
    drive,
    encoded,
    expand,
    handler_maps,
    json_values,
    junk_responses,
    mutated,
    noop,
    pending_answers,
    secrets,
    token_endpoint_answers,
    token_secrets,
    transient_answers,
    transport_failures,
    valid_device_answers,
    valid_token_answers,
)
from hypothesis import event, given
from hypothesis import strategies as st

from loctocat import Handler, LoctocatAuthInfo, Token
from loctocat._flow import (
    MAX_BACKOFF,
    MAX_EXPIRES_IN,
    MAX_INTERVAL,
    MAX_RETRY_AFTER,
    MAX_TOKEN_LIFETIME,
    SLOW_DOWN_INCREMENT,
    ClientConfig,
    PendingGrant,
    RequestResult,
    Response,
    device_authorization_flow,
    poll_flow,
)
from loctocat.errors import ExpiredToken, FlowTimeout, LoctocatError

#: Float slack for comparing clock times (sums of sleeps) with intervals.
EPS = 1e-6


def device_step(cfg: ClientConfig, answer: RequestResult) -> Run:
    clock = Clock()
    run = drive(device_authorization_flow(cfg, clock=clock), clock, lambda _: answer)
    assert len(run.requests) == 1
    assert not run.sleeps
    assert clock.now == START
    return run


def seconds(value: int | float | str) -> int:
    """What a valid number of seconds is read as."""
    return math.ceil(float(value.strip() if isinstance(value, str) else value))


def check_grant(cfg: ClientConfig, grant: object) -> PendingGrant:
    assert isinstance(grant, PendingGrant)
    info = grant.auth_info
    assert isinstance(info, LoctocatAuthInfo)
    for name in ("device_code", "user_code", "verification_uri"):
        value = getattr(info, name)
        assert isinstance(value, str)
        assert value
    assert info.verification_uri_complete is None or isinstance(info.verification_uri_complete, str)
    assert type(info.expires_in) is int
    assert info.expires_in > 0
    assert type(info.interval) is int
    assert info.interval >= 0
    assert cfg.min_interval <= grant.interval <= MAX_INTERVAL
    assert 0 < info.expires_in <= MAX_EXPIRES_IN
    assert grant.expires_at == START + info.expires_in
    expected_timeout = START + cfg.timeout if cfg.timeout is not None else math.inf
    assert grant.timeout_at == expected_timeout
    return grant


# --- 1. The device authorization step ---------------------------------------------------------


@given(
    configs(),
    valid_device_answers().flatmap(lambda a: st.tuples(st.just(a), encoded(a, hostile=False))),
)
def test_a_valid_device_answer_gives_a_sound_grant(
    cfg: ClientConfig, case: tuple[dict[str, Any], Response]
) -> None:
    answer, response = case
    run = device_step(cfg, response)
    assert run.error is None, run.error
    info = check_grant(cfg, run.result).auth_info
    form = "form" in response.headers.get("content-type", "").lower()
    assert (info.device_code, info.user_code) == (answer["device_code"], answer["user_code"])
    assert info.expires_in == min(seconds(answer["expires_in"]), MAX_EXPIRES_IN)
    if "interval" in answer:
        assert info.interval == seconds(answer["interval"])
    else:
        assert info.interval == cfg.default_interval
    event(f"encoded as {'form' if form else 'JSON'}")


device_results: st.SearchStrategy[RequestResult] = st.one_of(
    valid_device_answers().flatmap(encoded),
    valid_device_answers()
    .flatmap(lambda a: mutated(a, ("device_code", "user_code", "verification_uri", "expires_in")))
    .flatmap(encoded),
    valid_device_answers()
    .flatmap(lambda a: mutated(a, ("interval", "verification_uri_complete", "verification_url")))
    .flatmap(encoded),
    st.dictionaries(
        st.sampled_from(["device_code", "expires_in", "error", "x"]), json_values
    ).flatmap(encoded),
    junk_responses,
    transient_answers(),
    transport_failures,
)


@given(configs(), device_results)
def test_the_device_step_gives_a_sound_grant_or_a_loctocat_error(
    cfg: ClientConfig, answer: RequestResult
) -> None:
    run = device_step(cfg, answer)
    if run.error is None:
        check_grant(cfg, run.result)
        event("grant")
    else:
        event(f"raised {type(run.error).__name__}")


# --- 2. Polling: on time, never too fast, always ending ---------------------------------------

answer_runs = st.lists(
    st.tuples(token_endpoint_answers(), st.integers(1, 30) | st.just(1)), min_size=1, max_size=10
)


@given(
    configs(
        min_interval=st.just(1.0) | st.floats(0.5, 30),
        timeout=st.none() | st.none() | st.floats(0.5, 5000),
    ),
    valid_device_answers(expires_in=st.integers(1, 3000) | st.floats(0.001, 3000)).flatmap(
        lambda a: encoded(a, hostile=False)
    ),
    handler_maps,
    answer_runs,
)
def test_polling_ends_in_time_and_never_polls_faster_than_the_interval(
    cfg: ClientConfig,
    device_answer: Response,
    handlers: dict[str, Handler],
    runs: list[tuple[RequestResult, int]],
) -> None:
    clock = Clock()
    grant = check_grant(
        cfg,
        drive(device_authorization_flow(cfg, clock=clock), clock, lambda _: device_answer).result,
    )
    end = min(grant.expires_at, grant.timeout_at)
    bound = (end - START) / cfg.min_interval + 10
    answers = expand(runs)
    run = drive(
        poll_flow(cfg, grant, handlers, clock=clock), clock, cycle_answers(answers), int(bound)
    )

    assert isinstance(run.result, Token) or isinstance(run.error, LoctocatError)
    assert len(run.requests) <= bound
    previous = START
    for t, _ in run.requests:
        assert t < end, "a request at or after the deadline"
        assert t - previous >= grant.interval - EPS, "polled faster than the interval"
        longest = max(MAX_BACKOFF, MAX_INTERVAL, MAX_RETRY_AFTER)
        assert t - previous <= longest + EPS, "waited longer than any interval or backoff"
        previous = t
    assert all(call.handler is handlers[call.error.error] for call in run.handler_calls)
    if isinstance(run.error, FlowTimeout) or (
        isinstance(run.error, ExpiredToken) and run.error.status_code is None
    ):
        # Our own deadline: the flow waited it out, and names the one that ran out first.
        assert math.isclose(clock.now, end, abs_tol=EPS)
        assert isinstance(run.error, FlowTimeout) == (grant.timeout_at < grant.expires_at)
        event("our deadline")
    else:
        assert run.requests, "ended without asking"
        assert clock.now == run.requests[-1][0]
        event("token" if run.error is None else f"raised {type(run.error).__name__}")
    event(f"requests: {min(len(run.requests) // 10 * 10, 100)}+")


# --- 3. slow_down increments are never lost ----------------------------------------------------


@dataclass(frozen=True)
class Scripted:
    """A token endpoint answer, with what it should do to the schedule."""

    answer: RequestResult
    kind: str  # "pending", "slow_down" or "transient"
    #: slow_down: the server's new interval as the client should read it; transient: Retry-After.
    seconds: int | None = None


def _slow_down(interval: Any, read_as: int | None) -> Scripted:
    body: dict[str, Any] = {"error": "slow_down"}
    if interval != "absent":
        body["interval"] = interval
    return Scripted(
        Response(400, {}, json.dumps(body).encode(), received_at=ARRIVED), "slow_down", read_as
    )


_server_interval: st.SearchStrategy[tuple[Any, int | None]] = st.one_of(
    st.just(("absent", None)),
    st.just((None, None)),
    st.integers(0, 400).map(lambda n: (n, n)),
    st.floats(0, 400).map(lambda f: (f, math.ceil(f))),
    st.integers(0, 400).map(lambda n: (f" {n}", n)),
)


def _retry_after(value: str | None, answer: Response) -> Scripted:
    headers = dict(answer.headers)
    headers.pop("retry-after", None)
    if value is not None:
        headers["retry-after"] = value
    digits = value is not None and value.strip().isdigit()
    return Scripted(
        Response(answer.status_code, headers, answer.body, received_at=ARRIVED),
        "transient",
        int(value) if value is not None and digits else None,
    )


scripted_answers: st.SearchStrategy[Scripted] = st.one_of(
    pending_answers.map(lambda r: Scripted(r, "pending")),
    st.just(Scripted(Response(400, {}, b'{"error": "not_yet"}', received_at=ARRIVED), "pending")),
    _server_interval.map(lambda pair: _slow_down(*pair)),
    transport_failures.map(lambda f: Scripted(f, "transient")),
    st.builds(
        _retry_after,
        st.none() | st.integers(0, 300).map(str) | st.sampled_from(["", "soon", "-5", "1.5"]),
        st.builds(
            Response,
            st.sampled_from([429, 500, 502, 503, 504, 599]),
            st.just({}),
            st.sampled_from([b"", b"busy", b'{"error": "authorization_pending"}']),
        ),
    ),
    st.sampled_from(["server_error", "temporarily_unavailable"]).map(
        lambda code: Scripted(
            Response(400, {}, json.dumps({"error": code}).encode(), received_at=ARRIVED),
            "transient",
        )
    ),
)


@given(
    configs(min_interval=st.just(1.0) | st.floats(0.01, 10), timeout=st.none()),
    valid_device_answers(expires_in=st.just(MAX_EXPIRES_IN)).flatmap(
        lambda a: encoded(a, hostile=False)
    ),
    st.lists(scripted_answers, max_size=40),
    st.sets(st.sampled_from(["authorization_pending", "slow_down"])),
)
def test_slow_down_increments_are_never_lost(
    cfg: ClientConfig, device_answer: Response, script: list[Scripted], with_handlers: set[str]
) -> None:
    clock = Clock()
    grant = check_grant(
        cfg,
        drive(device_authorization_flow(cfg, clock=clock), clock, lambda _: device_answer).result,
    )
    handlers = {code: Handler(code, noop) for code in (*with_handlers, "not_yet")}
    token = Response(200, {}, b'{"access_token": "a"}', received_at=ARRIVED)
    answers = [s.answer for s in script] + [token]
    run = drive(poll_flow(cfg, grant, handlers, clock=clock), clock, lambda n: answers[n])
    assert run.error is None, run.error
    assert isinstance(run.result, Token)
    assert len(run.requests) == len(answers)

    interval = grant.interval
    previous, after_failure, retry_after = START, False, None
    for (t, _), scripted in zip(run.requests, [*script, None], strict=True):
        gap = t - previous
        assert gap >= interval - EPS, f"waited {gap} s, but the interval is {interval} s"
        if after_failure:
            longest = max(MAX_BACKOFF, interval, min(retry_after or 0, MAX_RETRY_AFTER))
            assert gap <= longest + EPS, f"backed off {gap} s, more than {longest} s"
        else:
            assert math.isclose(gap, interval, abs_tol=EPS), f"waited {gap} s, not {interval} s"
        previous = t
        if scripted is None:
            break
        after_failure = scripted.kind == "transient"
        retry_after = scripted.seconds if after_failure else None
        if scripted.kind == "slow_down":
            interval = min(
                max(interval + SLOW_DOWN_INCREMENT, scripted.seconds or 0, cfg.min_interval),
                MAX_INTERVAL,
            )
    event(f"slow_downs: {sum(s.kind == 'slow_down' for s in script)}")


# --- 4. Secrets never leak ----------------------------------------------------------------------


def wrapped(secret: str) -> st.SearchStrategy[Any]:
    """The secret as it should be (a string) or mistyped, so that it ends up in an error."""
    return st.sampled_from([secret, secret, secret, [secret], {"value": secret}, {secret: 1}])


@contextmanager
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("loctocat")
    keep, level = Keep(), logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)


def texts_of(*things: object) -> list[str]:
    texts: list[str] = []
    for thing in things:
        texts += [repr(thing), str(thing)]
        if isinstance(thing, BaseException):
            texts.append("".join(traceback.format_exception(thing)))
            texts.append(repr(vars(thing)))
    return texts


def assert_no_leak(texts: list[str], all_secrets: list[str]) -> None:
    runes = set(SECRET_ALPHABET)
    encodings = [
        form
        for secret in all_secrets
        for form in (
            secret.encode("unicode_escape").decode(),
            urllib.parse.quote(secret),
            base64.b64encode(secret.encode()).decode()[:16],
        )
    ]
    # Token secrets are ASCII (as tokens must be): they are looked for as they are, too.
    encodings += [secret for secret in all_secrets if secret.isascii()]
    for text in texts:
        leaked = runes.intersection(text)
        assert not leaked, f"secret characters {sorted(leaked)} in {text!r}"
        assert not any(form in text for form in encodings), f"a secret, encoded, in {text!r}"


@st.composite
def device_answers_with_secret(draw: st.DrawFn, secret: str) -> RequestResult:
    answer = draw(valid_device_answers(device_code=st.just(secret), expires_in=st.integers(1, 600)))
    answer["device_code"] = draw(wrapped(secret))
    return draw(encoded(answer))


@st.composite
def token_answers_with_secrets(draw: st.DrawFn, tokens: list[str]) -> RequestResult:
    answer = draw(valid_token_answers())
    for name, secret in zip(("access_token", "refresh_token", "id_token"), tokens, strict=True):
        if name == "access_token" or draw(st.booleans()):
            answer[name] = draw(wrapped(secret))
    return draw(encoded(answer))


@given(
    st.data(),
    st.lists(secrets, min_size=2, max_size=2, unique=True),
    st.lists(token_secrets, min_size=3, max_size=3, unique=True),
)
def test_secrets_never_leak(
    data: st.DataObject, other_secrets: list[str], tokens: list[str]
) -> None:
    all_secrets = [*other_secrets, *tokens]
    client_secret, device_code = other_secrets
    cfg = data.draw(configs(client_secret=st.just(client_secret)))
    device_answer = data.draw(device_answers_with_secret(device_code))
    before = data.draw(st.lists(token_endpoint_answers(), max_size=3))
    answers = [*before, data.draw(token_answers_with_secrets(tokens))]
    texts = texts_of(cfg)
    with log_lines() as lines:
        clock = Clock()
        device = drive(device_authorization_flow(cfg, clock=clock), clock, lambda _: device_answer)
        texts += texts_of(*(effect for _, effect in device.effects))
        if device.error is not None:
            texts += texts_of(device.error)
            event(f"device step raised {type(device.error).__name__}")
        else:
            grant = device.result
            assert isinstance(grant, PendingGrant)
            if device_code in grant.auth_info.device_code:  # not when sent as Latin-1
                event("the device code carried the secret")
            texts += texts_of(grant, grant.auth_info)
            poll = drive(poll_flow(cfg, grant, {}, clock=clock), clock, cycle_answers(answers))
            texts += texts_of(*(effect for _, effect in poll.effects))
            if poll.error is not None:
                texts += texts_of(poll.error)
                event(f"polling raised {type(poll.error).__name__}")
            else:
                assert isinstance(poll.result, Token)
                if tokens[0] in poll.result.access_token:
                    event("the access token carried the secret")
                texts += texts_of(poll.result)
                event("token")
    assert_no_leak(texts + lines, all_secrets)


# --- 5. Token.to_dict() round trip ------------------------------------------------------------


def canonical(value: Any) -> str:
    """A comparable form of a JSON value (NaN equals NaN, key order does not matter)."""
    return json.dumps(value, sort_keys=True)


@given(valid_token_answers().flatmap(lambda a: encoded(a, hostile=False)))
def test_token_to_dict_keeps_what_the_server_sent(response: Response) -> None:
    sent: dict[str, Any]
    if "form" in response.headers.get("content-type", "").lower():
        sent = dict(urllib.parse.parse_qsl(response.body.decode(), keep_blank_values=True))
    else:
        sent = json.loads(response.body)
    cfg = ClientConfig("client-1", "https://a.example/device", "https://a.example/token")
    grant = PendingGrant(
        LoctocatAuthInfo("device", "user", "https://a.example/activate", 600, 5),
        expires_at=START + 600,
        timeout_at=math.inf,
        interval=5,
    )
    clock = Clock()
    run = drive(poll_flow(cfg, grant, {}, clock=clock), clock, lambda _: response)
    assert run.error is None, run.error
    token = run.result
    assert isinstance(token, Token)
    data = token.to_dict()
    json.dumps(data)  # JSON-friendly
    assert data["access_token"] == sent["access_token"]
    for name in ("refresh_token", "id_token"):
        assert data.get(name) == sent.get(name)
    scope = sent.get("scope")
    assert data.get("scope") == (" ".join(scope) if isinstance(scope, list) else scope)
    assert data["token_type"] == (sent.get("token_type") or "Bearer")
    unknown = {k: v for k, v in sent.items() if k not in TOKEN_KNOWN}
    assert not unknown.keys() & TO_DICT_OWN
    assert canonical({k: data[k] for k in unknown}) == canonical(unknown)
    ours = {"loctocat_expires_at", "loctocat_received_at"} if "expires_in" in sent else set()
    assert set(data) == set(unknown) | {k for k in TOKEN_KNOWN if data.get(k) is not None} | (
        ours | {"loctocat_received_at"}
    )
    if "expires_in" in sent:
        lifetime = min(seconds(sent["expires_in"]), MAX_TOKEN_LIFETIME)
        expected = data["loctocat_received_at"] + lifetime
        assert math.isclose(data["loctocat_expires_at"], expected, abs_tol=1e-3)
