"""`POST /api/v1/clickbank/ins/{account}`: ClickBank INS v8 notifications become postbacks.

The account nickname in the path selects the secret key (offers file, `clickbank:
accounts:`). A notification that decrypts and names a click through `trackingCodes[0]`
is published to the raw postbacks topic exactly like a postback, with the decrypted
notification as its body. Everything else is recorded as a PostbackIssue: an unknown
account (404), a body that does not decrypt (400 `undecryptable`), a sale without a
tracking code (400 `invalid`); test notifications and transaction types that carry no
money are acknowledged (200) and recorded with reason `test` / `not_a_conversion`, so
that ClickBank does not retry them.
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from services.receiver import keys
from services.receiver.ins_parse import decrypt, to_postback_params
from services.receiver.intake import take_in
from services.receiver.issues import record_only, refuse
from services.receiver.postback_parse import Rejection, rejection_for
from services.receiver.postbacks import accept, postback_from


async def handle_ins(request: web.Request) -> web.StreamResponse:
    received, problem = await take_in(request)
    if problem is not None:
        return await refuse(request, received, problem)
    nickname = request.match_info["account"].lower()
    account = request.app[keys.CLICKBANK_ACCOUNTS].get(nickname)
    if account is None:
        return await refuse(request, received, Rejection(
            "unknown_account", f"account {nickname[:64]!r} is not under clickbank.accounts "
            "in the offers file"))
    try:
        notification = decrypt(received.body.encode(), account.ins_key)
        # From here on the record keeps the notification in clear: that is what was sent.
        received = dataclasses.replace(received, body=notification.text)
        mapped = to_postback_params(notification.data, account.nickname)
        if mapped.record_reason is not None:
            return await record_only(request, received, rejection_for(
                mapped.record_reason, mapped.detail, mapped.params))
        postback = postback_from(mapped.params, received, ins_account=account.nickname)
    except Rejection as rejection:
        return await refuse(request, received, rejection)
    return await accept(request, postback)
