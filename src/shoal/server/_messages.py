"""Every user-facing string the server's Python code produces.

Page texts live in the templates; what code says (mostly errors) lives
here, in English, as the msgids a later issue hands to gettext. None of
them may be built from what a peer sent: an error never echoes input.
"""

from __future__ import annotations

# Doors and sessions.
NO_SUCH_DOOR = "There is no door here."
DOOR_CLOSED = "This door is closed for now. Please try again later."
WRONG_CODENAME = "That codename does not open this door. Check each word and try again."
NO_SESSION = "Your session has ended. Enter your codename to continue."
CROSS_SITE_FORM = (
    "This form was sent from another site, so it was refused and nothing was done. "
    "Type this page's address yourself and try again."
)
FORM_EXPIRED = (
    "This form has expired or did not come from this site, so nothing was done. "
    "Reload the page and try again."
)

# Submissions.
MALFORMED_UPLOAD = "The upload was malformed or incomplete. Nothing was stored."
UNEXPECTED_FIELD = "The upload has a field this form does not have. Nothing was stored."
NOTHING_TO_SEND = "Write a message or choose a file to send."
BODY_TOO_LARGE = "The upload is too large. Nothing was stored."
TOO_MANY_FILES = "Too many files in one upload. Nothing was stored."
DISK_FULL = "The server cannot store anything more right now. Nothing was stored."

# Requests in general.
MALFORMED_REQUEST = "The request is malformed."
REQUEST_TOO_LARGE = "The request is too large."
NOT_FOUND = "Not found."
METHOD_NOT_ALLOWED = "This address does not take that method."
INTERNAL_ERROR = "Something went wrong on the server. Nothing was stored."

# Handlers (the desk).
HANDLER_LOGIN_FAILED = "The login failed: the challenge, key or signature was not accepted."
HANDLER_NOT_LOGGED_IN = "Not logged in: the token is missing, unknown or expired."
NO_SUCH_CONTACT = "No such contact in this compartment."
NO_SUCH_BLOB = "No such blob in this compartment."
CONTACT_CUT = "Ties with this contact are cut: it can receive no replies."
NOT_AN_AGE_FILE = "A reply must be an age file."
REPLY_TOO_LARGE = "The reply is too large."
