"""What a visitor's commands do: the hello's identity, ``identify``, ``start``, ``message``,
``handoff``, ``rate`` and ``leave_message`` (``resume``, ``typing``, ``read`` and ``close`` are shared with
agents: `chatserver.core.conversations`).

``identify`` (verified users, `chatserver.core.identity`): a proven identity is kept on the
visitor record (``external_id``, ``verified``) and, for this socket, opens every conversation
of that user on the site (`Core.verified_users`); a claim that is not proven may name the
visitor only — it never opens anything — and an ``enforce`` site refuses it.

A ``start`` on a topic a bot takes goes to the bot, not to the router (`chatserver.core.bots`);
``handoff`` is the visitor's "Talk to a person".

A visitor becomes durable with its first conversation or left message: a hello without a token
gets a new identity that is stored only then, so a flood of anonymous hellos stores nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import weakref
from typing import Any

import routing
from chatserver import protocol as p
from chatserver.core.accounts import new_token, token_hash
from chatserver.core.base import Core, new_id
from chatserver.core.bots import BotDesk
from chatserver.core.delivery import Client
from chatserver.core.identity import Claim, IdentityRefused, verify
from chatserver.store.base import ConversationRecord, JSONObject, VisitorRecord, iso_now

log = logging.getLogger("chatserver.service")

#: The conversations a visitor's ``welcome`` lists (its latest).
WELCOME_CONVERSATIONS = 20


class NewVisitor:
    __slots__ = ("id", "token")

    def __init__(self, visitor_id: str, token: str) -> None:
        self.id = visitor_id
        self.token = token


class VisitorCommands:
    def __init__(self, core: Core, bots: BotDesk) -> None:
        self.core = core
        self.bots = bots
        #: New visitors not stored yet, by their connection (`new_visitor`).
        self._unsaved: weakref.WeakKeyDictionary[Client, VisitorRecord] = (
            weakref.WeakKeyDictionary()
        )

    # -- hello ------------------------------------------------------------------------------
    async def known_visitor(self, token: str) -> str | None:
        """The id of the visitor ``token`` belongs to, or None if it opens nothing."""
        found = await self.core.store.get_visitor_by_token_hash(token_hash(token))
        return None if found is None else found.id

    async def welcome(
        self, client: Client, visitor_id: str, token: str, ref: str | None = None
    ) -> None:
        """Send the accepted visitor its ``welcome``: who it is, its token, its conversations."""
        core = self.core
        convs = (await core.store.list_conversations(visitor_id=visitor_id))[
            -WELCOME_CONVERSATIONS:
        ]
        client.send(p.frames.welcome_visitor(visitor_id, token, core.summaries(convs), ref=ref))

    def new_visitor(self, client: Client, site: str, now: float) -> NewVisitor:
        """A visitor token for ``client``'s connection. Nothing is stored yet: the visitor
        becomes durable with its first conversation or left message (`_keep_visitor`), so a
        flood of anonymous hellos stores nothing. A token never kept opens nothing later (the
        widget then starts over as a new visitor, having had nothing to lose)."""
        token = new_token()
        visitor_id = new_id()
        self._unsaved[client] = VisitorRecord(
            id=visitor_id, token_hash=token_hash(token), site=site, created_at=iso_now(now)
        )
        return NewVisitor(visitor_id, token)

    async def _keep_visitor(self, client: Client) -> None:
        """Store the connection's visitor, if it is new: it is about to own something."""
        record = self._unsaved.pop(client, None)
        if record is not None:
            await self.core.store.add_visitor(record)

    # -- identify ---------------------------------------------------------------------------
    async def identify(self, client: Client, cmd: p.Identify) -> None:
        """Verify the host app's claim of who the visitor is; answer ``identified``."""
        assert client.visitor_id is not None
        core = self.core
        unsaved = self._unsaved.get(client)
        record = unsaved or await core.store.get_visitor(client.visitor_id)
        if record is None:
            raise p.NotFound("this visitor is no longer stored; connect again without a token")
        claim = Claim(cmd.user_id, cmd.user_hash, cmd.token, cmd.name, cmd.email)
        try:
            found = verify(claim, core.settings.identity_for(record.site), core.now())
        except IdentityRefused as exc:
            raise p.Forbidden(str(exc)) from None
        changes: dict[str, Any] = {}
        if found.verified:
            assert found.user_id is not None
            if record.verified and record.external_id != found.user_id:
                raise p.Conflict(
                    "this visitor is verified as another user; connect again with a null "
                    "token to start as a new visitor"
                )
            changes = {"external_id": found.user_id, "verified": True}
            core.verified_users[client] = (record.site, found.user_id)
        else:
            core.verified_users.pop(client, None)
            if not record.verified and found.user_id is not None:
                changes["external_id"] = found.user_id  # shown to agents as unverified
        if not (record.verified and not found.verified):  # a claim never renames a verified user
            changes.update({k: v for k, v in (("name", found.name), ("email", found.email)) if v})
        changes = {k: v for k, v in changes.items() if getattr(record, k) != v}
        if unsaved is not None:
            self._unsaved[client] = dataclasses.replace(unsaved, **changes)
        elif changes:
            await core.store.update_visitor(record.id, **changes)
        if found.verified:
            assert found.user_id is not None
            convs = await core.store.list_user_conversations(
                record.site, found.user_id, limit=WELCOME_CONVERSATIONS
            )
        else:
            convs = (await core.store.list_conversations(visitor_id=client.visitor_id))[
                -WELCOME_CONVERSATIONS:
            ]
        log.info(
            "visitor identified",
            extra={"visitor_id": record.id, "verified": found.verified, "site": record.site},
        )
        client.send(
            p.frames.identified(
                found.verified,
                found.user_id if found.verified else None,
                core.summaries(convs),
                reason=found.reason,
                ref=cmd.ref,
            )
        )

    async def _previous(
        self, visitor: VisitorRecord | None, visitor_id: str
    ) -> list[ConversationRecord]:
        """The conversations the returning-agent preference looks at: a verified user's on
        the site (from any device), else this visitor's."""
        if visitor is not None and visitor.verified and visitor.external_id is not None:
            return await self.core.store.list_user_conversations(visitor.site, visitor.external_id)
        return await self.core.store.list_conversations(visitor_id=visitor_id)

    # -- commands ---------------------------------------------------------------------------
    async def start(self, client: Client, cmd: p.Start, *, left: JSONObject | None = None) -> None:
        """``left``: the first message was left on the leave-a-message form (stored with it)."""
        assert client.visitor_id is not None
        now = self.core.now()
        # The connection's parser checked topic and language against the configuration of
        # its time; an admin may have removed either since. Check again before saving
        # anything, or the conversation would be stored and then refused by the router.
        config = self.core.router_config
        if cmd.topic not in config.topics:
            raise p.BadFrame(
                f"topic {cmd.topic!r} is not offered; allowed: {', '.join(config.topics)}"
            )
        if cmd.language not in config.languages:
            raise p.BadFrame(
                f"language {cmd.language!r} is not offered; allowed: {', '.join(config.languages)}"
            )
        retried: ConversationRecord | None = None
        for open_conv in await self.core.store.list_conversations(
            visitor_id=client.visitor_id, status={"queued", "offered", "active"}
        ):
            if (open_conv.status, open_conv.topic, open_conv.language) == (
                "queued",
                cmd.topic,
                cmd.language,
            ):
                # The same start again: most likely a retry after `unavailable` (stored, not
                # yet routed). Finish it rather than refuse: the answer is that conversation.
                retried = open_conv
                continue
            raise p.Conflict(
                f"conversation {open_conv.id} is still open; resume it or close it first",
            )
        await self._keep_visitor(client)
        visitor = await self.core.store.get_visitor(client.visitor_id)
        name = cmd.name or (visitor.name if visitor else None)
        email = cmd.email or (visitor.email if visitor else None)
        if visitor is not None and (cmd.name or cmd.email):
            await self.core.store.update_visitor(visitor.id, name=name, email=email)
        previous = [
            c
            for c in await self._previous(visitor, client.visitor_id)
            if retried is None or c.id != retried.id
        ]
        preferred = previous[-1].last_agent_id if previous else None
        conv_id = retried.id if retried is not None else new_id()
        # A left message is for the agents; anything else on a bot's topic goes to the bot.
        bot = await self.bots.for_topic(cmd.topic) if retried is None and left is None else None
        if retried is None:
            topic_cfg = config.topics[cmd.topic]
            await self.core.store.add_conversation(
                ConversationRecord(
                    id=conv_id,
                    visitor_id=client.visitor_id,
                    site=visitor.site if visitor else self.core.settings.default_site,
                    topic=cmd.topic,
                    language=cmd.language,
                    status="queued" if bot is None else "active",
                    priority=topic_cfg.priority,
                    created_at=iso_now(now),
                    page_url=cmd.page_url,
                    bot_id=None if bot is None else bot.id,
                )
            )
            self.core.metrics.conversations.labels(cmd.topic).inc()
            log.info(
                "conversation started",
                extra={"conversation_id": conv_id, "topic": cmd.topic, "language": cmd.language},
            )
        await self.core.append(
            conv_id,
            "start",
            {
                "topic": cmd.topic,
                "language": cmd.language,
                "name": name,
                "email": email,
                "page_url": cmd.page_url,
            },
            now=now,
            actor_role="visitor",
            actor_id=client.visitor_id,
            actor_name=name,
            client_id=f"opened-{conv_id}",  # stored once, however often the start is retried
        )
        if cmd.text:
            await self.core.append(
                conv_id,
                "message",
                {"text": cmd.text, **(left or {})},
                now=now,
                actor_role="visitor",
                actor_id=client.visitor_id,
                actor_name=name,
                client_id=f"start-{conv_id}",
            )
        if bot is not None:
            await self.bots.take(conv_id, bot, now)
            client.send(p.frames.queued(conv_id, 0, None, ref=cmd.ref))
            await self.core.hub.subscribe(client, conv_id, 0)  # the bot's `assigned` too
            if cmd.text:  # its first message waits for the bot's answer
                await self.bots.answer_due(conv_id, bot, now)
            return
        result = await self.core.router.request(
            routing.ConversationRequest(
                conversation_id=conv_id,
                topic=cmd.topic,
                language=cmd.language,
                preferred_agent=preferred,
                meta={
                    "visitor_name": name or "",
                    "preview": (cmd.text or "")[:200],
                    "page_url": cmd.page_url or "",
                },
            ),
            now,
        )
        position = result.position if result.position is not None else 0
        client.send(p.frames.queued(conv_id, position, result.eta_s, ref=cmd.ref))
        if result.agents_online == 0:
            client.send(p.frames.offline(conv_id, topic=cmd.topic, language=cmd.language))
        await self.core.hub.subscribe(client, conv_id, 0)
        if result.status == "queued":
            self.core.positions.follow(conv_id, result.position, result.eta_s)

    async def message(self, client: Client, cmd: p.Message) -> None:
        received = time.perf_counter()
        # The record and the name are cached while this client is subscribed (no reads).
        found, name = await self.core.cache.conversation(
            client, cmd.conversation_id, visitor_name=True
        )
        conv = found if found is not None and found.visitor_id == client.visitor_id else None
        if conv is None:  # not there or not theirs: the usual answer (or a record made since)
            conv = await self.core.visitor_conversation(client, cmd.conversation_id)
            visitor = await self.core.store.get_visitor(conv.visitor_id)
            name = visitor.name if visitor else None
        if conv.status == "closed":
            raise p.Conflict(f"conversation {conv.id} is closed")
        await self.core.post_message(
            client, conv, cmd, "visitor", client.visitor_id, name, received
        )
        if conv.bot_id is not None and conv.handed_over_at is None:
            await self.bots.visitor_wrote(conv, self.core.now())

    async def handoff(self, client: Client, cmd: p.Handoff) -> None:
        """ "Talk to a person": the bot that holds the conversation hands it over."""
        conv = await self.core.visitor_conversation(client, cmd.conversation_id)
        done = await self.bots.handoff(
            conv, by="visitor", now=self.core.now(), actor_id=client.visitor_id
        )
        event = done.event
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))

    async def rate(self, client: Client, cmd: p.Rate) -> None:
        conv = await self.core.visitor_conversation(client, cmd.conversation_id)
        if conv.status != "closed":
            raise p.Conflict(f"conversation {conv.id} is not closed yet; rate it once it ends")
        if conv.rating is not None:
            raise p.Conflict(f"conversation {conv.id} was already rated")
        event = await self.core.commit_and_publish(
            conv.id,
            "rating",
            {"score": cmd.score, "comment": cmd.comment},
            now=self.core.now(),
            actor_role="visitor",
            actor_id=client.visitor_id,
            client_id=f"rating-{conv.id}",
            update={"rating": cmd.score, "rating_comment": cmd.comment},
        )
        if event.duplicate:
            raise p.Conflict(f"conversation {conv.id} was already rated")
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))

    async def leave_message(self, client: Client, cmd: p.LeaveMessage) -> None:
        """The widget's leave-a-message form, after `offline`: the message (and the e-mail to
        answer to) joins the waiting conversation, which stays queued for the next agent who
        comes online; the visitor may leave meanwhile. Without a conversation_id it starts one."""
        assert client.visitor_id is not None
        await self._keep_visitor(client)
        await self.core.store.update_visitor(
            client.visitor_id, email=cmd.email, **({"name": cmd.name} if cmd.name else {})
        )
        if cmd.conversation_id is not None:
            conv = await self.core.visitor_conversation(client, cmd.conversation_id)
            if conv.status == "closed":
                raise p.Conflict(f"conversation {conv.id} is closed")
            event = await self.core.commit_and_publish(
                conv.id,
                "message",
                {"text": cmd.text, "left_message": True, "email": cmd.email},
                now=self.core.now(),
                actor_role="visitor",
                actor_id=client.visitor_id,
                actor_name=cmd.name,
                client_id=f"leave-{conv.id}",
            )
            client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))
            return
        await self.start(
            client,
            p.Start(
                topic=cmd.topic,
                language=cmd.language,
                name=cmd.name,
                email=cmd.email,
                text=cmd.text,
                page_url=None,
                ref=cmd.ref,
            ),
            left={"left_message": True, "email": cmd.email},
        )
