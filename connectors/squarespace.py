"""Connector for Squarespace's orders export (Commerce › Orders › Download CSV).

Squarespace writes Shopify's layout under a few other names: the order's number is
``Order ID`` (a plain ``1``, ``2``… per site), refunds are ``Amount Refunded``, the
shop's own notes ``Private Notes``, and each item's choice (``200g``, ``Size: L``) has
its own ``Lineitem variant`` column, which becomes part of the item's name as Shopify
writes it (``Washed Colombian Coffee - 200g``). An order's later rows hold its further
items and may leave ``Order ID`` empty. Dates are the site's local time without an
offset (``7/25/2018 21:06``): read in ``options.tz``, month first unless the file's
dates show otherwise. Everything else (a spreadsheet round trip, bad rows, one
order's rows together) is as ``connectors.shopify`` reads it. The export has no order
id across sites, so an order is keyed by its number and the second it was placed.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from connectors.csv_common import header_keys
from connectors.shopify import ShopifyConnector

__all__ = ["SquarespaceConnector"]

_SNIFF_KEYS = frozenset({"orderid", "financialstatus", "lineitemname", "createdat"})


class SquarespaceConnector(ShopifyConnector):
    """Reads Squarespace's orders export CSV into order events."""

    name: str = "squarespace"
    label: str = "Squarespace orders export (.csv)"
    _what = "a Squarespace orders export"
    _aliases = MappingProxyType(
        {
            "orderid": "name",
            "amountrefunded": "refundedamount",
            "privatenotes": "notes",
            "fulfillmentdate": "fulfilledat",
        }
    )
    _number = "Order ID"
    _blank_continues = True

    def sniff(self, path: Path, head: bytes) -> float:
        """0.95 if the first row is a header with Squarespace's ``Order ID`` beside
        Shopify's ``Financial Status``, ``Lineitem name`` and ``Created at`` (and no
        Shopify ``Name``: that file is Shopify's), else 0.0."""
        keys = header_keys(head)
        return 0.95 if keys >= _SNIFF_KEYS and "name" not in keys else 0.0
