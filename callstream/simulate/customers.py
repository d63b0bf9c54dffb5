"""Fictional customers and agents: names, numbers and addresses drawn from a seeded
random stream (Faker supplies the names and streets).

Phone numbers use the 555 exchange and e-mail addresses use the reserved example
domains, so no generated identifier points at a real person.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

_FAKER = Faker("en_US")

AGENTS_PER_QUEUE = 40
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")


@dataclass(frozen=True)
class Customer:
    """A customer record as the CRM holds it."""

    customer_id: str
    first_name: str
    last_name: str
    phone: str  # 10 digits, the number on file
    email: str
    born: dt.date
    house_number: int
    street: str
    unit: str
    account_number: str
    card_number: str  # Luhn-valid
    ssn: str  # ddd-dd-dddd

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def _draw_from(rng: random.Random) -> None:
    # Faker's proxy passes ``random`` on to its generator; its stubs do not declare it
    _FAKER.random = rng  # type: ignore[attr-defined]


def make_customer(rng: random.Random) -> Customer:
    """A customer whose every field comes from ``rng`` (same state, same customer)."""
    _draw_from(rng)  # Faker draws from the caller's stream, keeping runs reproducible
    first, last = _FAKER.first_name(), _FAKER.last_name()
    style = rng.randrange(4)
    local = (f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}", f"{first}_{last}{rng.randint(1, 99)}")[style]
    born = dt.date(1945, 1, 1) + dt.timedelta(days=rng.randrange(60 * 365))
    card_type = rng.choice(("visa16", "visa16", "mastercard", "mastercard", "amex", "discover"))
    return Customer(
        customer_id=f"cust-{rng.getrandbits(40):010x}",
        first_name=first,
        last_name=last,
        phone=random_phone(rng),
        email=f"{local.lower()}@{rng.choice(EMAIL_DOMAINS)}",
        born=born,
        house_number=rng.randint(1, 9899),
        street=_FAKER.street_name(),
        unit=rng.choice(("", "", "", f"Apt {rng.randint(1, 40)}{rng.choice('ABCD')}", f"Unit {rng.randint(100, 999)}")),
        account_number="".join(str(rng.randrange(10)) for _ in range(rng.choice((8, 10)))),
        card_number=_FAKER.credit_card_number(card_type=card_type),
        ssn=_FAKER.ssn(),
    )


def random_phone(rng: random.Random) -> str:
    """A 10-digit number in the fictional 555-01xx range of a random area code."""
    area = f"{rng.randint(2, 9)}{rng.randrange(10)}{rng.randrange(10)}"
    return f"{area}55501{rng.randrange(100):02d}"


def e164(digits: str) -> str:
    return f"+1{digits}"


def agent_id(queue: str, rng: random.Random) -> str:
    return f"agent-{queue}-{rng.randint(1, AGENTS_PER_QUEUE):03d}"


@lru_cache(maxsize=1024)
def agent_name(agent: str) -> str:
    """The first name an agent introduces themself with; stable for an agent id."""
    _draw_from(random.Random(agent))
    return _FAKER.first_name()
