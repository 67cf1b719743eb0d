"""Every user-facing string the server's Python code produces.

Page texts live in the templates; what code says (mostly errors) lives
here, as English msgids marked with ``N_`` for extraction and translated
where they are shown (``_i18n.py``). None of them may be built from what a
peer sent: an error never echoes input.
"""

from __future__ import annotations

from ._i18n import N_

# Doors and sessions.
NO_SUCH_DOOR = N_("There is no door here.")
DOOR_CLOSED = N_("This door is closed for now. Please try again later.")
WRONG_CODENAME = N_("That codename does not open this door. Check each word and try again.")
NO_SESSION = N_("Your session has ended. Enter your codename to continue.")
SESSION_IDLE = N_(
    "For your safety, your session ended after a time without activity. "
    "Enter your codename to continue."
)
SESSION_ENDED_UNSENT = N_(
    "Your session ended before this was sent, so nothing was sent. "
    "Enter your codename, then send it again."
)
ALREADY_GOT_CODENAME = N_(
    "You already received a codename from this page. If you kept it, type it "
    "below; if not, start again with a new one."
)
PRACTICE_WRONG = N_(
    "That is not the codename you were given. Check each word against where "
    "you kept it, and try again."
)
PRACTICE_FIRST = N_("Before anything else, type your codename back once.")
LOGGED_IN = N_("You are logged in. Your conversation continues here.")
PRACTICE_DONE = N_("Well done: you have your codename. Keep it safe, and write to us.")
PRACTICE_DONE_SERVICES = N_("Well done: you have your codename. Keep it safe.")
FORM_EXPIRED_KEPT = N_(
    "This page had expired, so nothing was sent. What you wrote is below: "
    "check it and send it again."
)
CROSS_SITE_FORM = N_(
    "This form was sent from another site, so it was refused and nothing was done. "
    "Type this page's address yourself and try again."
)
FORM_EXPIRED = N_(
    "This form has expired or did not come from this site, so nothing was done. "
    "Reload the page and try again."
)

# Submissions.
MALFORMED_UPLOAD = N_("The upload was malformed or incomplete. Nothing was stored.")
UNEXPECTED_FIELD = N_("The upload has a field this form does not have. Nothing was stored.")
NOTHING_TO_SEND = N_("Write a message or choose a file to send.")
BODY_TOO_LARGE = N_("The upload is too large. Nothing was stored.")
TOO_MANY_FILES = N_("Too many files in one upload. Nothing was stored.")
DISK_FULL = N_("The server cannot store anything more right now. Nothing was stored.")
SENT = N_("Sent. Thank you. Come back in a few days for our reply.")
ALREADY_SENT = N_("This was already sent, and it was stored only once.")
CHOOSE_FILES_AGAIN = N_(
    "Your message is kept below, but files have to be chosen again: browsers do not keep them."
)
REPLY_DELETED = N_("The reply was deleted.")
REPLIES_DELETED = N_("All replies were deleted.")

# Offers of services (the questionnaire).
NO_QUESTIONNAIRE = N_("This door does not take offers of services.")
FIX_ANSWERS = N_("Some answers need a change. Nothing was sent yet.")
APPLICATION_SENT = N_("Your offer was sent. Thank you. Come back in a few days for our answer.")

# Requests in general.
MALFORMED_REQUEST = N_("The request is malformed.")
REQUEST_TOO_LARGE = N_("The request is too large.")
NOT_FOUND = N_("Not found.")
METHOD_NOT_ALLOWED = N_("This address does not take that method.")
INTERNAL_ERROR = N_("Something went wrong on the server. Nothing was stored.")

# Handlers (the desk).
HANDLER_LOGIN_FAILED = N_("The login failed: the challenge, key or signature was not accepted.")
HANDLER_NOT_LOGGED_IN = N_("Not logged in: the token is missing, unknown or expired.")
NO_SUCH_CONTACT = N_("No such contact in this compartment.")
NO_SUCH_BLOB = N_("No such blob in this compartment.")
NO_SUCH_ITEM = N_("No such item in this compartment.")
CONTACT_CUT = N_("Ties with this contact are cut: it can receive no replies.")
NOT_AN_AGE_FILE = N_("A reply must be an age file.")
REPLY_TOO_LARGE = N_("The reply is too large.")
FORWARD_NOT_AN_AGE_FILE = N_("A forwarded report must be an age file.")
FORWARD_TO_OWN_DOOR = N_("A report cannot be forwarded to its own compartment.")
RESEAL_NOT_RECEIVED = N_("Only an item the compartment received can be re-sealed.")
RESEAL_WRONG_RECIPIENTS = N_(
    "A re-sealed item must be sealed to exactly the recipients of the current epoch."
)
ALREADY_CURRENT = N_("This item is already sealed to the current epoch.")

# Members' field clients.
NOT_AGE = N_("The body must be an age file. Nothing was stored.")
NO_SUCH_UPLOAD = N_("No such upload.")
UPLOAD_TAKEN = N_("This upload id is taken, or was used with another size or epoch.")
UPLOAD_TOO_LARGE = N_("The upload is larger than this server accepts. Nothing was stored.")
UPLOAD_EPOCH = N_("The upload names an epoch this door does not have.")
UPLOAD_ELSEWHERE = N_("The upload continues at another offset: resume where this answer says.")
UPLOAD_INCOMPLETE = N_("The upload is not complete: send the rest, then finish it.")
UPLOAD_BUSY = N_("Another request is sending bytes to this upload: wait, then resume.")
TOO_MANY_UPLOADS = N_("Too many unfinished uploads: finish one before starting another.")
UPLOADS_FULL = N_("The server is taking too many uploads at once: try again later.")
NO_SUCH_REPLY = N_("No such reply.")
