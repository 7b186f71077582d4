"""What the sample generator (`sample`) writes: its agents, visitors' names by language, the
topics and languages in their proportions, the issues (each with its mood, opening line,
follow-ups and tags), the agents' lines, small talk, notes, rating comments and scores, and
the personal data templates and test card numbers that redaction must catch."""

from __future__ import annotations

__all__ = [
    "AGENTS",
    "AGENT_LINES",
    "CARDS",
    "COMMENTS",
    "ISSUES",
    "LANGUAGES",
    "NAMES",
    "NOTES",
    "PII_LINES",
    "SCORES",
    "SMALL_TALK",
    "TOPICS",
]

AGENTS: tuple[tuple[str, str], ...] = (
    ("nina", "Nina Petrova"), ("omar", "Omar Haddad"), ("li", "Li Wei"),
    ("sofia", "Sofía Ruiz"), ("tom", "Tom Becker"), ("aisha", "Aisha Khan"),
    ("jonas", "Jonas Berg"), ("mei", "Mei Chen"),
)  # fmt: skip
TOPICS = (("general", 0.2), ("billing", 0.35), ("account", 0.25), ("technical", 0.2))
LANGUAGES = (("en", 0.7), ("es", 0.18), ("ar", 0.06), ("zh", 0.06))
NAMES = {
    "en": ["Emma Wilson", "Liam Carter", "Olivia Brooks", "Noah Bennett", "Ava Turner",
           "James Foster", "Mia Harper", "Lucas Graham", "Grace Holland", "Henry Walsh"],
    "es": ["María García", "Javier López", "Lucía Fernández", "Carlos Martín", "Elena Torres",
           "Diego Navarro"],
    "ar": ["Layla Hassan", "Omar Farouk", "Yasmin Saleh", "Karim Nasser"],
    "zh": ["Zhang Wei", "Wang Fang", "Liu Yang", "Chen Jing"],
}  # fmt: skip

# (topic, issue, mood, opening line, follow-ups, tags). mood: bad issues are rated low.
ISSUES: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("billing", "double", "bad", "I was charged twice for my subscription this month.",
     ("The duplicate charge is still pending on my statement.",
      "Why was I charged twice? This is the second time it happens.",
      "I want a refund for the duplicate payment today."), ("refund", "double-charge")),
    ("billing", "refund", "bad", "My refund from three weeks ago never arrived.",
     ("You promised the refund would arrive in five days.",
      "Still no refund, nobody answers my emails."), ("refund",)),
    ("billing", "invoice", "good", "Could you send me a copy of last month's invoice?",
     ("I need the invoice for my accountant.", "Perfect, that's the right invoice."),
     ("invoice",)),
    ("billing", "card", "mid", "I need to update the card on my account.",
     ("The new card is {card}.", "Will the next payment use the new card?"),
     ("payment-method",)),
    ("account", "reset", "bad", "The password reset email never arrives.",
     ("I requested the reset link five times, nothing in spam either.",
      "I'm locked out and the reset link never comes."), ("login", "password")),
    ("account", "locked", "bad", "My account is locked after the update.",
     ("It says locked even with the right password.", "Locked again, this is frustrating."),
     ("login",)),
    ("account", "email", "good", "I'd like to change the email on my account.",
     ("The new address is {email2}.", "Thanks, I see the confirmation now."),
     ("profile",)),
    ("technical", "crash", "bad", "The app crashes every time I open a report.",
     ("It crashes right after the splash screen on my phone.",
      "Reinstalling did not help, it still crashes."), ("bug", "crash")),
    ("technical", "sync", "mid", "Syncing between my laptop and phone is very slow.",
     ("It takes minutes to sync a single note.", "My IP is {ip} if that helps."),
     ("performance",)),
    ("technical", "export", "good", "How do I export my data to PDF?",
     ("Found the export button, thanks!", "The PDF looks great."), ("how-to",)),
    ("general", "hours", "good", "What are your opening hours on weekends?",
     ("Great, thanks for the quick answer.",), ("how-to",)),
    ("general", "feedback", "good", "I just wanted to say the new dashboard is lovely.",
     ("Keep up the good work!",), ("feedback",)),
)  # fmt: skip
PII_LINES = (
    "You can reach me at {email}.",
    "My phone number is {phone}.",
    "Please call me back on {phone}, or write to {email_odd}.",
    "My card is {card}, expiry 09/27.",
    "I'm connecting from {ip}.",
)
AGENT_LINES = (
    "Hi {first}, thanks for waiting. Let me look into it.",
    "I can see your account now, one moment please.",
    "I've checked with the team and fixed it on our side.",
    "Is there anything else I can help you with?",
)
SMALL_TALK = (
    ("Sure, give me a second to find it.", "Thanks for checking, no rush."),
    ("Could you confirm the device you are using?", "An Android phone, the latest version."),
    ("I have escalated this internally.", "Okay, how long will that take?"),
    ("Can you try logging out and in again?", "Done, I logged out and back in."),
    ("I understand, that must be annoying.", "Yes, I have been trying since yesterday."),
    ("Let me check the logs on our side.", "Alright, I'll wait."),
    ("Could you describe what you see on the screen?", "Just a blank page with a spinner."),
)
NOTES = (
    "Customer called before about this; IP {ip}.",
    "Escalated to billing ops, see ticket #48213.",
    "Known issue, engineering is on it.",
)
COMMENTS = {
    "bad": ("Still not fixed after all this time.", "Waited forever and the refund is still missing.",
            "Useless, the app still crashes. Email me at {email}.", "Nobody could help me."),
    "mid": ("It was okay.", "Took a while but solved.", "Average experience."),
    "good": ("Great help, thank you!", "Quick and friendly, excellent service.",
             "Very helpful agent, solved in minutes."),
}  # fmt: skip
SCORES = {
    "bad": (0.4, 0.3, 0.17, 0.09, 0.04),
    "mid": (0.08, 0.17, 0.35, 0.28, 0.12),
    "good": (0.02, 0.04, 0.1, 0.34, 0.5),
}
CARDS = ("4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "6011000000000004")
