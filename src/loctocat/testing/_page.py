"""The verification web page: the form a person uses to approve or deny a device."""

from __future__ import annotations

from html import escape

# Inline styles only: the page must work offline and under a strict Content-Security-Policy.
_STYLE = """
:root { color-scheme: light dark; --accent: #0b57d0; --danger: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: Canvas; color: CanvasText; }
main { width: min(26rem, 100% - 2rem); padding: 2rem; border: 1px solid GrayText;
  border-radius: 12px; }
h1 { font-size: 1.4rem; margin: 0 0 .75rem; }
p { margin: 0 0 1rem; }
label { display: block; font-weight: 600; margin-bottom: .35rem; }
input { width: 100%; padding: .6rem .75rem; font: 600 1.4rem ui-monospace, monospace;
  letter-spacing: .15em; text-transform: uppercase; border: 2px solid GrayText;
  border-radius: 8px; background: Field; color: FieldText; }
input:focus-visible, button:focus-visible { outline: 3px solid var(--accent);
  outline-offset: 2px; }
.buttons { display: flex; gap: .75rem; margin-top: 1.25rem; }
button { flex: 1; padding: .65rem 1rem; font: inherit; font-weight: 600; border-radius: 8px;
  cursor: pointer; border: 2px solid var(--accent); }
button[value=approve] { background: var(--accent); color: #fff; }
button[value=deny] { background: transparent; color: inherit; border-color: GrayText; }
.notice { padding: .6rem .75rem; border-radius: 0 8px 8px 0; border-left: 4px solid var(--danger);
  background: color-mix(in srgb, var(--danger) 12%, transparent); }
.request { font-size: .95rem; }
.hint { font-size: .9rem; margin: 0 0 .5rem; }
"""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
)


def _document(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    ).encode()


def form_page(
    *,
    action: str,
    user_code: str = "",
    error: str | None = None,
    client_id: str | None = None,
    scope: str | None = None,
) -> bytes:
    """The page asking for a user code, with Approve and Deny buttons."""
    parts = ["<h1>Connect a device</h1>"]
    if error is not None:
        parts.append(f'<p class="notice" role="alert">{escape(error)}</p>')
    parts.append("<p>Enter the code shown on your device, then approve or deny access.</p>")
    if client_id is not None:
        wanted = f" to <strong>{escape(scope)}</strong>" if scope else ""
        parts.append(
            f'<p class="request"><strong>{escape(client_id)}</strong> is asking for access'
            f"{wanted}.</p>"
        )
    parts.append(
        f'<form method="post" action="{escape(action)}">\n'
        '<label for="user_code">Code</label>\n'
        '<p id="code-help" class="hint">Letters only; the dash is optional.</p>\n'
        f'<input id="user_code" name="user_code" type="text" value="{escape(user_code)}" '
        'required autocomplete="off" autocapitalize="characters" spellcheck="false" '
        'aria-describedby="code-help" autofocus>\n'
        '<div class="buttons">\n'
        '<button type="submit" name="action" value="approve">Approve</button>\n'
        '<button type="submit" name="action" value="deny">Deny</button>\n'
        "</div>\n</form>"
    )
    return _document("Connect a device", "\n".join(parts))


def result_page(*, approved: bool) -> bytes:
    """The page shown once a grant has been approved or denied."""
    if approved:
        title, text = "Device approved", "Device approved. You can return to your terminal."
    else:
        title, text = "Device denied", "Device denied. You can return to your terminal."
    return _document(title, f'<h1>{title}</h1>\n<p role="status">{text}</p>')


def method_not_allowed_page() -> bytes:
    """The page for a request method the verification page does not take."""
    return _document("Method not allowed", "<h1>Method not allowed</h1>\n<p>Use GET or POST.</p>")


def device_flow_only_page(verification_path: str) -> bytes:
    """The authorization endpoint's page: there is no authorization code flow to start here."""
    return _document(
        "Device sign-in only",
        "<h1>Device sign-in only</h1>\n"
        '<p class="notice" role="alert">This server only offers the device authorization grant '
        "(RFC 8628): there is no authorization code flow, so it cannot sign you in here.</p>\n"
        "<p>Start the sign-in on your device, then enter the code it shows at "
        f'<a href="{escape(verification_path)}">{escape(verification_path)}</a>.</p>',
    )
