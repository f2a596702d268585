"""A seeded shop history in the real export formats, from a few thousand events to millions.

    python -m tests.bench.corpus OUT_DIR [--events 1000000] [--seed 11] [--heavy 10000]

writes into OUT_DIR, in the shapes FORMATS.md gives (the files a shop owner would import):

- ``Maildir/`` (cur/new/tmp): about 55 % of the events. Customers write, the shop answers;
  threads (``In-Reply-To`` and ``References``), a third of the mails multipart with an HTML
  part, a few newsletters and delivery notifications from automated senders.
- ``WhatsApp Chat with +44 7700 9NNNNN.txt``: about 20 %, Android layout, one file a customer,
  the shop's name as the owner's side, the encryption notice first.
- ``messages/inbox/<name>_<id>/message_1.json``: about 10 %, Meta "Download your information"
  JSON (newest first, milliseconds, UTF-8 written as ``\\u00XX`` escapes).
- ``orders_export.csv`` (Shopify, one row per line item, order fields on the first row only)
  and ``woocommerce_orders.csv`` (SkyVerge legacy layout): about 15 %.

About one customer per 50 events. Each person has a name, an email address and a mobile
number; orders carry both (so mail, WhatsApp and orders meet in one customer), Messenger knows
only the name (a suggestion, never a merge). Customer 0 is a big account with ``--heavy``
events, for "open a 10,000-event customer": that many in mail, WhatsApp and orders, which its
address and number tie into one customer after import, and never an automated mail among
them; its Messenger thread (a tenth as many again, a name only) is a separate customer, a
suggestion. The same seed gives the same files.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

SHOP_NAME = "Bloom & Branch"
SHOP_EMAIL = "hello@bloomandbranch.example"
START = datetime(2016, 1, 4, 8, 0, tzinfo=UTC)
SPAN_DAYS = 10 * 365

FIRST = (
    "Jane John Priya Zoë María Tom Aiko Olu Sven Fatima Liam Chloé Mateo Hana Ivan Grace "
    "Noah Amara Kenji Sofia Lukas Aylin Ravi Elena Omar Freya Diego Mei Jonas Nia"
).split()
LAST = (
    "Doe Smith Patel Müller García Okafor Tanaka Adeyemi Berg Haddad Murphy Dubois Rossi "
    "Kowalski Nguyen Silva Novak Jensen Costa Ivanova Kaya Fischer Moreau Sato Hughes Reid"
).split()
WORDS = (
    "flowers bouquet delivery tulips roses order thanks wedding birthday card ribbon vase "
    "tomorrow morning address invoice refund colour peonies sunflowers arrangement basket "
    "price stock white pink sunday collect shop lovely smell fresh week gift message"
).split()
QUESTIONS = (
    "Do you deliver on Sundays?",
    "Where is my order?",
    "Can I change the delivery address?",
    "Have you got white peonies this week?",
    "Could you add a card that says happy birthday?",
)
PRODUCTS = (
    ("Tulip bouquet", "TUL-01", "24.50"),
    ("Rose box", "ROS-12", "39.00"),
    ("Peony vase", "PEO-03", "45.00"),
    ("Sunflower bunch", "SUN-07", "18.00"),
    ("Greeting card", "CARD-1", "3.50"),
)
STREETS = ("High Street", "Church Road", "Station Road", "Mill Lane", "Park Avenue")
TOWNS = (("London", "N1 9GU"), ("Leeds", "LS1 4AP"), ("Bristol", "BS1 5TR"), ("York", "YO1 7HH"))


@dataclass(frozen=True)
class Person:
    index: int
    first: str
    last: str
    email: str
    phone: str  # E.164
    street: str
    town: str
    postcode: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def phone_display(self) -> str:
        national = self.phone[3:]
        return f"+44 {national[:4]} {national[4:]}"


def people(count: int, rng: random.Random) -> list[Person]:
    out = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        town, postcode = rng.choice(TOWNS)
        out.append(
            Person(
                index=i,
                first=first,
                last=last,
                email=f"{first.lower()}.{last.lower()}.{i}@example.com".replace("ë", "e")
                .replace("í", "i")
                .replace("é", "e")
                .replace("ü", "u"),
                phone=f"+4477009{i:05d}"[:13],
                street=f"{rng.randint(1, 220)} {rng.choice(STREETS)}",
                town=town,
                postcode=postcode,
            )
        )
    return out


def _sentence(rng: random.Random, n: int = 12) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, n))]
    return " ".join(words).capitalize() + "."


def _when(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))


def _share(rng: random.Random, total: int, who: int, heavy: int) -> Iterator[int]:
    """Which person each event belongs to: customer 0 gets ``heavy`` events."""
    for n in range(total):
        # Skewed: a few regulars write a lot, most people a little.
        yield 0 if n < heavy else 1 + int((who - 1) * rng.random() ** 2)


# --- mail -----------------------------------------------------------------------------------


def _address(name: str, email: str) -> str:
    """``Name <email>``, the name as an RFC 2047 encoded word when it is not ASCII."""
    if not name.isascii():
        name = f"=?utf-8?b?{base64.b64encode(name.encode()).decode('ascii')}?="
    return f"{name} <{email}>"


def _mail(headers: list[tuple[str, str]], body: str, html: str | None, n: int) -> bytes:
    """One message as a mail client writes it: UTF-8 text in 8 bit, the HTML alternative
    quoted-printable. Written by hand (the ``email`` package's serializer takes about 10 ms a
    message: hours for a million events)."""
    head = "".join(f"{k}: {v}\n" for k, v in headers) + "MIME-Version: 1.0\n"
    text = body.encode("utf-8")
    if html is None:
        return (
            head + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n'
        ).encode("ascii") + text
    boundary = f"===============bench{n:012d}=="
    qp = binascii.b2a_qp(html.encode("utf-8"))
    return (
        (
            head + f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
            f"--{boundary}\n"
            'Content-Type: text/plain; charset="utf-8"\n'
            "Content-Transfer-Encoding: 8bit\n\n"
        ).encode("ascii")
        + text
        + (
            f"\n--{boundary}\n"
            'Content-Type: text/html; charset="utf-8"\n'
            "Content-Transfer-Encoding: quoted-printable\n\n"
        ).encode("ascii")
        + qp
        + f"\n--{boundary}--\n".encode("ascii")
    )


def write_maildir(out: Path, persons: list[Person], owners: list[int], rng: random.Random) -> int:
    root = out / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    written = 0
    shop = _address(SHOP_NAME, SHOP_EMAIL)
    threads: dict[int, tuple[str, str, datetime]] = {}
    for n, who in enumerate(owners):
        p = persons[who]
        # A newsletter or a delivery notice: automated, nobody's. Never in one of the big
        # account's places (customer 0), which would then have fewer events than it should.
        if who != 0 and rng.random() < 0.03:
            headers = [
                ("From", "Parcel Tracking <no-reply@tracking.example>"),
                ("To", SHOP_EMAIL),
                ("Subject", f"Delivery update for parcel {rng.randint(10**8, 10**9)}"),
                ("Date", format_datetime(_when(rng))),
                ("Message-ID", f"<track.{n}@tracking.example>"),
                ("Auto-Submitted", "auto-generated"),
            ]
            data = _mail(headers, "Your parcel is on its way.\n", None, n)
        else:
            prior = threads.get(who)
            outbound = prior is not None and rng.random() < 0.45
            at = (prior[2] + timedelta(hours=rng.randint(1, 72))) if prior else _when(rng)
            customer = _address(p.name, p.email)
            subject = f"Re: {prior[1]}" if prior else rng.choice(QUESTIONS).rstrip("?")
            mid = f"<{1_500_000_000 + n}.{n}@bench.example>"
            headers = [
                ("From", shop if outbound else customer),
                ("To", customer if outbound else shop),
                ("Subject", subject),
                ("Date", format_datetime(at)),
                ("Message-ID", mid),
            ]
            if prior:
                headers += [("In-Reply-To", prior[0]), ("References", prior[0])]
            greeting = f"Hi {p.first}," if outbound else "Hello,"
            body = f"{greeting}\n\n{rng.choice(QUESTIONS)} {_sentence(rng, 30)}\n\n"
            body += f"{SHOP_NAME}\n" if outbound else f"{p.first}\n"
            html = None
            if rng.random() < 0.33:
                paragraphs = "".join(f"<p>{escape(line)}</p>" for line in body.splitlines() if line)
                html = f"<html><body>{paragraphs}</body></html>"
            data = _mail(headers, body, html, n)
            threads[who] = (mid, subject.removeprefix("Re: "), at)
            if rng.random() < 0.2:
                threads.pop(who)  # the next mail starts a new thread
        name = f"{1_500_000_000 + n}.M{n}P1.bench:2,S"
        (root / "cur" / name).write_bytes(data)
        written += 1
    return written


# --- chats ----------------------------------------------------------------------------------


def write_whatsapp(out: Path, persons: list[Person], owners: list[int], rng: random.Random) -> int:
    by_person: dict[int, list[datetime]] = {}
    for who in owners:
        by_person.setdefault(who, []).append(_when(rng))
    for who, times in by_person.items():
        p = persons[who]
        lines = [
            f"{times[0] - timedelta(days=1):%d/%m/%Y, %H:%M} - Messages and calls are end-to-end "
            "encrypted. No one outside of this chat, not even WhatsApp, can read or listen to "
            "them. Tap to learn more."
        ]
        for at in sorted(times):
            author = SHOP_NAME if rng.random() < 0.4 else p.phone_display
            text = rng.choice(QUESTIONS) if rng.random() < 0.3 else _sentence(rng)
            lines.append(f"{at:%d/%m/%Y, %H:%M} - {author}: {text}")
        path = out / f"WhatsApp Chat with {p.phone_display}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(owners)


def _meta(text: str) -> str:
    """Meta's export: UTF-8 bytes written as \\u00XX escapes (FORMATS.md §2.2)."""
    return text.encode("utf-8").decode("latin-1")


def write_messenger(out: Path, persons: list[Person], owners: list[int], rng: random.Random) -> int:
    by_person: dict[int, list[datetime]] = {}
    for who in owners:
        by_person.setdefault(who, []).append(_when(rng))
    for who, times in by_person.items():
        p = persons[who]
        folder = out / "messages" / "inbox" / f"{p.first.lower()}{p.last.lower()}_{1000 + who}"
        folder.mkdir(parents=True, exist_ok=True)
        messages = []
        for at in sorted(times, reverse=True):  # newest first
            sender = SHOP_NAME if rng.random() < 0.4 else p.name
            messages.append(
                {
                    "sender_name": _meta(sender),
                    "timestamp_ms": int(at.timestamp() * 1000),
                    "content": _meta(_sentence(rng)),
                    "is_geoblocked_for_viewer": False,
                }
            )
        doc = {
            "participants": [{"name": _meta(p.name)}, {"name": _meta(SHOP_NAME)}],
            "messages": messages,
            "title": _meta(p.name),
            "is_still_participant": True,
            "thread_type": "Regular",
            "thread_path": f"inbox/{folder.name}",
            "magic_words": [],
        }
        (folder / "message_1.json").write_text(json.dumps(doc), encoding="utf-8")
    return len(owners)


# --- orders ---------------------------------------------------------------------------------

SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,"
    "Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,"
    "Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,"
    "Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Phone"
).split(",")
WOO_HEADER = (
    "order_id,order_number_formatted,order_number,date,status,order_shipping,order_shipping_tax,"
    "order_fees,order_fee_tax,order_tax,cart_discount,order_discount,order_total,payment_method,"
    "shipping_method,customer_user,billing_first_name,billing_last_name,billing_email,"
    "billing_phone,billing_address_1,billing_address_2,billing_postcode,billing_city,"
    "billing_state,billing_country,billing_company,shipping_first_name,shipping_last_name,"
    "shipping_address_1,shipping_address_2,shipping_postcode,shipping_city,shipping_state,"
    "shipping_country,shipping_company,customer_note,order_item_1,order_item_2,"
    "download_permissions_granted,order_notes,shipping_method_1,shipping_cost_1"
).split(",")


def write_shopify(out: Path, persons: list[Person], owners: list[int], rng: random.Random) -> int:
    with (out / "orders_export.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, SHOPIFY_HEADER)
        writer.writeheader()
        for n, who in enumerate(owners):
            p = persons[who]
            at = _when(rng)
            items = rng.sample(PRODUCTS, rng.randint(1, 3))
            subtotal = sum(float(price) for _, _, price in items)
            status = rng.choices(("paid", "refunded", "pending"), (0.9, 0.05, 0.05))[0]
            for k, (name, sku, price) in enumerate(items):
                row = {
                    "Name": f"#{10000 + n}",
                    "Created at": at.strftime("%Y-%m-%d %H:%M:%S +0000"),
                    "Lineitem quantity": "1",
                    "Lineitem name": name,
                    "Lineitem price": price,
                    "Lineitem sku": sku,
                    "Lineitem requires shipping": "true",
                    "Lineitem taxable": "true",
                    "Lineitem fulfillment status": "fulfilled",
                    "Vendor": SHOP_NAME,
                }
                if k == 0:
                    row.update(
                        {
                            "Email": p.email,
                            "Financial Status": status,
                            "Paid at": at.strftime("%Y-%m-%d %H:%M:%S +0000"),
                            "Fulfillment Status": "fulfilled",
                            "Currency": "GBP",
                            "Subtotal": f"{subtotal:.2f}",
                            "Shipping": "4.95",
                            "Taxes": "0.00",
                            "Total": f"{subtotal + 4.95:.2f}",
                            "Shipping Method": "Royal Mail Tracked 24",
                            "Billing Name": p.name,
                            "Billing Street": p.street,
                            "Billing Address1": p.street,
                            "Billing City": p.town,
                            "Billing Zip": p.postcode,
                            "Billing Country": "GB",
                            "Billing Phone": p.phone_display,
                            "Shipping Name": p.name,
                            "Shipping Street": p.street,
                            "Shipping Address1": p.street,
                            "Shipping City": p.town,
                            "Shipping Zip": p.postcode,
                            "Shipping Country": "GB",
                            "Refunded Amount": f"{subtotal + 4.95:.2f}"
                            if status == "refunded"
                            else "",
                            "Id": str(5_000_000_000 + n),
                            "Source": "web",
                            "Phone": p.phone_display,
                        }
                    )
                writer.writerow(row)
    return len(owners)


def write_woocommerce(
    out: Path, persons: list[Person], owners: list[int], rng: random.Random
) -> int:
    with (out / "woocommerce_orders.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, WOO_HEADER)
        writer.writeheader()
        for n, who in enumerate(owners):
            p = persons[who]
            _, sku, price = rng.choice(PRODUCTS)
            writer.writerow(
                {
                    "order_id": str(90000 + n),
                    "order_number_formatted": f"W{90000 + n}",
                    "order_number": str(90000 + n),
                    "date": _when(rng).strftime("%Y-%m-%d %H:%M:%S"),
                    "status": rng.choice(("completed", "completed", "processing", "refunded")),
                    "order_shipping": "4.95",
                    "order_total": f"{float(price) + 4.95:.2f}",
                    "payment_method": "stripe",
                    "shipping_method": "Flat rate",
                    "billing_first_name": p.first,
                    "billing_last_name": p.last,
                    "billing_email": p.email,
                    "billing_phone": p.phone_display,
                    "billing_address_1": p.street,
                    "billing_postcode": p.postcode,
                    "billing_city": p.town,
                    "billing_country": "GB",
                    "shipping_first_name": p.first,
                    "shipping_last_name": p.last,
                    "shipping_address_1": p.street,
                    "shipping_postcode": p.postcode,
                    "shipping_city": p.town,
                    "shipping_country": "GB",
                    "order_item_1": f"{sku}|1|{price}",
                }
            )
    return len(owners)


SHARES = (
    ("mail", 0.55, write_maildir),
    ("whatsapp", 0.20, write_whatsapp),
    ("messenger", 0.10, write_messenger),
    ("shopify", 0.10, write_shopify),
    ("woocommerce", 0.05, write_woocommerce),
)


# Formats that carry the big account's email address or phone number: its ``heavy`` events are
# shared among them, so that all of them land in the one customer. Messenger knows only the
# name (a suggestion, never a merge): its thread comes on top, the customer's share of it.
LINKED = ("mail", "whatsapp", "shopify", "woocommerce")


def _heavy_part(heavy: int, name: str) -> int:
    """The big account's events in format ``name``: the linked formats' parts add up to
    ``heavy`` exactly (the rounding goes to mail)."""
    shares = {n: share for n, share, _ in SHARES}
    linked = sum(shares[n] for n in LINKED)
    if name not in LINKED:
        return int(heavy * shares[name])
    if name == "mail":
        return heavy - sum(_heavy_part(heavy, n) for n in LINKED if n != "mail")
    return int(heavy * shares[name] / linked)


def generate(out: Path, events: int, seed: int = 11, heavy: int = 10_000) -> dict[str, int]:
    """Write the corpus into ``out``; returns the number of events per format."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    persons = people(max(2, events // 50), rng)
    heavy = min(heavy, events // 4)
    counts: dict[str, int] = {}
    for name, share, write in SHARES:
        n = int(events * share)
        owners = list(_share(rng, n, len(persons), _heavy_part(heavy, name)))
        counts[name] = write(out, persons, owners, random.Random(f"{seed}-{name}"))
    out.with_suffix(".json").write_text(  # beside the folder: nothing in it but exports
        json.dumps({"events": events, "seed": seed, "heavy": heavy, "counts": counts}),
        encoding="utf-8",
    )
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--heavy", type=int, default=10_000, help="events of the big account")
    args = ap.parse_args()
    counts = generate(args.out, args.events, args.seed, args.heavy)
    for name, n in counts.items():
        print(f"{name:12} {n:>10,}")


if __name__ == "__main__":
    main()
