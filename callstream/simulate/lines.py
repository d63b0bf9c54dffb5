"""What agents and customers say: the phrase book the conversation generator draws from.

Placeholders in braces are filled by ``speech.render``; PII placeholders become ground
truth spans. Customer lines are grouped by mood (calm, frustrated, angry, relieved) so a
call's sentiment arc decides which ones are heard.
"""

from __future__ import annotations

COMPANY = "Northwind"

# --- agent: the parts QA listens for -----------------------------------------------------

GREETINGS = (
    "Thank you for calling {company}, my name is {agent}. How can I help you today?",
    "Good {daypart}, thanks for calling {company}. This is {agent}, how may I help you?",
    "{company} customer care, {agent} speaking. What can I do for you today?",
    "Hi, thank you for calling {company}. You're speaking with {agent}. How can I help?",
)
# An agent who skips the greeting (QA must flag it).
NO_GREETING = ("Yeah, go ahead.", "Hello? What's the issue?", "Customer care.", "Yes?")

TRANSFER_GREETINGS = (
    "Hi, this is {agent} on the {team} team. I understand you were transferred over, how can I help?",
    "Thanks for holding, my name is {agent} with {team}. I have your call from my colleague.",
)

# The recording disclosure; QA checks for this exact phrase.
DISCLOSURE_PHRASE = "this call may be recorded for quality purposes"
DISCLOSURES = (
    "Before we start, please note that this call may be recorded for quality purposes.",
    "Just so you know, this call may be recorded for quality purposes.",
    "I do need to let you know that this call may be recorded for quality purposes.",
)

HOLD_ASKS = (
    "May I place you on a brief hold while I look into that?",
    "Would it be alright if I put you on a short hold while I check this?",
    "May I place you on a brief hold? It should only take a minute or two.",
)
HOLD_ABRUPT = ("Hold on.", "One sec.", "Hang on, I'm putting you on hold.")
HOLD_ACCEPTS = ("Sure.", "Okay, go ahead.", "Yes, that's fine.")
HOLD_RETURNS = (
    "Thank you for holding.",
    "Thanks for your patience, I'm back.",
    "Thank you for waiting, I appreciate your patience.",
)
HOLD_RETURNS_ABRUPT = ("Okay, I'm back.", "Alright.")

CLOSING_ASKS = (
    "Is there anything else I can help you with today?",
    "Is there anything else I can do for you?",
)
CLOSING_DONE = {
    "calm": ("No, that's everything.", "No, that's all, thanks.", "Nope, that's it."),
    "frustrated": ("No. Just make sure it's actually fixed this time.", "No, that's all."),
    "angry": ("No. I just hope I never have to call again.", "No. Goodbye."),
    "relieved": ("No, that's everything, thank you so much for your help!", "No, you've been great, thanks."),
}
CLOSINGS = (
    "Thank you for calling {company}. Have a great {daypart}!",
    "Thanks for calling {company}, take care and have a good {daypart}.",
    "You're all set. Thank you for being a {company} customer, goodbye.",
)
ABRUPT_ENDINGS = ("Okay. Bye.", "Alright, that's it then.")

# --- identity verification ----------------------------------------------------------------

VERIFY_ASKS = {
    "dob": (
        "For security, can I have your full name and date of birth?",
        "To verify your identity, could you give me the name on the account and your date of birth?",
    ),
    "phone": (
        "To verify the account, what's the phone number we have on file?",
        "Can you confirm the phone number associated with the account?",
    ),
    "ssn": (
        "Can you give me the account number and the last four digits of your social?",
        "To verify, I'll need your account number and the last four of your social security number.",
    ),
    "email": ("Could you confirm the email address on the account?",),
    "ssn_full": ("Can I have the account number and your full social security number, please?",),
}
VERIFY_ANSWERS = {
    "dob": (
        "Sure, it's {name}, and my date of birth is {dob}.",
        "{name}. Date of birth {dob}.",
        "My name is {name}, born {dob}.",
    ),
    "phone": ("It's {phone}.", "The number is {phone}.", "Sure, {phone}."),
    "ssn": (
        "The account number is {account}, and the last four are {ssn}.",
        "Account {account}. Last four of my social is {ssn}.",
    ),
    "email": ("It's {email}.", "Sure, my email is {email}."),
    "ssn_full": ("Account {account}, and my social is {ssn}.", "It's account {account}, social {ssn}."),
}
VERIFY_OK = (
    "Thank you, you're verified.",
    "Perfect, I've verified your account.",
    "Great, thanks {first}, I have your account up.",
)
VERIFY_FAIL = (
    "I'm sorry, that doesn't match what we have on file.",
    "Hmm, that's not matching our records. Could you try again?",
    "I'm afraid that information doesn't match. Is there another way you can verify?",
)
VERIFY_GIVE_UP = (
    "I'm sorry, without verifying your identity I'm not able to make changes to this account.",
    "Unfortunately I can't proceed without verification. I'm going to flag this account for review.",
)
NAME_INTROS = ("My name is {name}.", "Hi, this is {name}.", "Hello, it's {name} calling.")

# --- the reason for the call, by intent and mood -----------------------------------------

OPENINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "billing_dispute": {
        "calm": (
            "I'm calling about my bill. There's a charge of {amount} I don't recognize.",
            "I think I was billed twice this month and I'd like to get that sorted out.",
        ),
        "frustrated": (
            "My bill is wrong again, there's a {amount} charge that shouldn't be there.",
            "I've been looking at my statement and you charged me {amount} for something I never ordered.",
        ),
        "angry": (
            "I have been overcharged for the third month in a row and I am sick of it.",
            "You people charged me {amount} again! I told you last month to stop this.",
        ),
    },
    "cancellation": {
        "calm": ("I'd like to cancel my service, please.", "I'm moving to another provider, so I want to cancel."),
        "frustrated": (
            "I want to cancel. The service has been unreliable for weeks.",
            "Honestly I'm tired of the outages, I'd like to close my account.",
        ),
        "angry": (
            "Cancel my account. Right now. I'm done with you people.",
            "I want out of this contract today, this is the worst service I have ever had.",
        ),
    },
    "fraud_report": {
        "calm": (
            "I noticed some charges on my card that I didn't make.",
            "I think someone used my card, there's a payment on my account I don't recognize.",
        ),
        "frustrated": ("Someone has been using my card, there are charges I never authorized.",),
        "angry": ("Somebody stole my card details and you let them charge {amount}! How did this even happen?",),
    },
    "technical_support": {
        "calm": (
            "My internet has been dropping out since yesterday.",
            "My TV box keeps showing an error code and won't load any channels.",
        ),
        "frustrated": ("My internet keeps cutting out and I work from home, this is the second time this week.",),
        "angry": (
            "My service has been down for two days and nobody has fixed it!",
            "I've called three times about this outage and it is still not working!",
        ),
    },
    "payment": {
        "calm": ("I'd like to make a payment on my account.", "I want to pay my bill over the phone please."),
        "frustrated": ("I tried to pay online and it keeps failing, so I'm calling to pay.",),
        "angry": ("Your website rejected my payment three times and now you're charging me a late fee!",),
    },
    "address_change": {
        "calm": (
            "I've moved recently and I need to update my address.",
            "I need to change the address on my account, I just moved.",
        ),
        "frustrated": ("I moved a month ago and my bills still go to the old address.",),
        "angry": ("I told you people I moved and you still sent my bill to the old place!",),
    },
}

CUSTOMER_REACTIONS = {
    "calm": ("Okay, thanks.", "Sure, no problem.", "Alright, that makes sense.", "Okay."),
    "frustrated": (
        "Fine.",
        "I already explained this to the last person.",
        "Okay, but this has been going on for a while now.",
        "Can we speed this up a bit?",
    ),
    "angry": (
        "This is unbelievable.",
        "Are you serious right now?",
        "I can't believe how long this is taking!",
        "This is ridiculous, I pay for this service every month!",
    ),
    "relieved": (
        "Oh, thank you so much, that really helps.",
        "Great, I really appreciate your help.",
        "Okay, that's a big relief, thank you.",
    ),
}
SUPERVISOR_REQUESTS = (
    "Let me speak to your supervisor.",
    "I want to talk to a manager, now.",
    "Can I please speak to your supervisor? This is going nowhere.",
)
SUPERVISOR_ACKS = ("I understand. Let me get my supervisor on the line.", "Of course, I'll bring my supervisor in.")
SUPERVISOR_JOINS = (
    "Hi, this is {supervisor}, a supervisor here. I'm sorry about the trouble today, let's get this fixed.",
    "Hello, {supervisor} here, I'm the team supervisor. I've read the notes and I'll take care of this.",
)
LONG_HOLD_COMPLAINTS = (
    "I've been on hold forever.",
    "That was a really long hold.",
    "Finally. I was about to hang up.",
)
EMPATHY = (
    "I'm really sorry about that, I understand how frustrating this must be.",
    "I apologize for the trouble, let's get this sorted out.",
    "I completely understand, thank you for your patience.",
)

# Account-takeover tells (urgency, pushing for changes right after verification).
URGENCY = (
    "Look, I need this done right now.",
    "This is urgent, I'm about to board a flight.",
    "Can you hurry up please, I don't have much time.",
    "I need this fixed immediately.",
)
ALSO_CHANGE_PHONE = (
    "Also I need to change the phone number on the account to {phone}.",
    "And update the phone number to {phone}, the old one doesn't work anymore.",
)
ALSO_CHANGE_EMAIL = ("And change the email to {email} too.",)
NEW_CARD_TO_NEW_ADDRESS = ("Can you send a replacement card to the new address?",)

# --- intent bodies -----------------------------------------------------------------------

BILLING_LOOKUP = (
    "I can see a charge of {amount} from {when}.",
    "I'm looking at your statement now, I see the {amount} charge.",
)
BILLING_REFUND = (
    "I've issued a refund of {amount}, you'll see it in three to five business days.",
    "I've reversed that charge, {amount} will be back on your account shortly.",
)
BILLING_CREDIT = ("I've applied a credit of {amount} to your next bill.",)

RETENTION_OFFER = (
    "Before you go, I can offer you {pct} percent off for the next six months.",
    "I'd hate to lose you. What if I took {pct} percent off your plan for a year?",
)
RETENTION_ACCEPT = ("Okay, that's actually a good deal, I'll stay.", "Alright, if you can do that I'll keep it.")
RETENTION_REFUSE = ("No, I just want to cancel.", "No thanks, please just cancel it.")
CANCEL_DONE = ("I've processed the cancellation, your service ends on {when}.",)
OFFER_APPLIED = ("Done, the discount is applied starting this month.",)

FRAUD_CARD_ASK = (
    "Can you read me the card number so I can locate it?",
    "Which card is it? Please give me the full card number.",
)
FRAUD_CARD_GIVE = ("The card number is {card}.", "It's {card}.")
FRAUD_BLOCKED = ("I've blocked that card and opened a fraud case. The charges of {amount} will be reversed.",)

TECH_TROUBLESHOOT = (
    "Let's try restarting your router. Unplug it for thirty seconds and plug it back in.",
    "I'm going to run a line test from our side.",
)
TECH_CUSTOMER_STEPS = ("Okay, it's restarting now.", "Alright, the lights are blinking.")
TECH_RESOLVED = (
    "I can see your connection is stable now.",
    "The line test passed and I've reset your port, you should be good.",
)
TECH_VISIT = ("I'll book a technician visit. Can you confirm the service address?",)
TECH_VISIT_ADDRESS = ("It's {address}.", "The address is {address}.")
TECH_CALLBACK = ("What's the best number for the technician to call?",)
TECH_CALLBACK_GIVE = ("You can reach me at {phone}.", "Call me on {phone}.")

PAYMENT_ASK = ("Go ahead with the card number when you're ready.", "Sure, what card would you like to use?")
PAYMENT_GIVE = ("It's {card}.", "The card number is {card}.")
PAYMENT_HALF = ("Okay, it's {card}...",)
PAYMENT_REST = ("...{card}.",)
PAYMENT_LINK = ("For your security I'll text you a secure payment link instead of taking the card over the phone.",)
PAYMENT_DONE = (
    "Your payment of {amount} went through.",
    "That's processed, {amount} has been applied to your account.",
)

ADDRESS_ASK = ("What's the new address?", "Sure, what is the new address?")
ADDRESS_GIVE = ("It's {address}.", "The new address is {address}.", "Sure, it's {address}.")
ADDRESS_DONE = ("I've updated your address.", "Your address has been changed.")
PHONE_DONE = ("The phone number is updated.",)
EMAIL_DONE = ("I've changed the email on file.",)
CONFIRMATION_EMAIL = ("Can you send a confirmation to {email}?", "Please email me the confirmation at {email}.")

TRANSFER_ANNOUNCE = (
    "I'm going to transfer you to our {team} team, they can help with that. Please stay on the line.",
    "That's handled by {team}, let me transfer you now.",
)

TEAM_NAMES = {
    "billing": "billing",
    "retention": "customer loyalty",
    "fraud": "fraud prevention",
    "tech_support": "technical support",
    "payments": "payments",
    "general": "customer care",
}
