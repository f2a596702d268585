"""People and roles on a team server: two group roles and what each may write, enforced by
PostgreSQL itself.

An administrator grants one of two group roles to each person's own login role
(``GRANT threadline_owner TO alice``, ``GRANT threadline_agent TO bob``); each person
signs in as themselves. Migration 0013 creates the roles (when missing) and applies
``apply_grants``; a later migration that adds a table calls ``apply_grants`` again.

**Agents** read everything, import and sync (events, customers, contact points, import
runs and problems, and the updates an import makes), write notes, mark customers
answered or snoozed, and change settings. **Owners** may in addition merge, split,
undo, mark customers as different people, forget customers, lift suppressions and
manage mail accounts. ``threadline_owner`` is a member of ``threadline_agent``.

How the owner-only operations are enforced (table and column grants, and row-level
security on the change log):

- *forget* deletes customers, events, contact points and change-log entries, and writes
  suppressions: agents have no ``DELETE`` on ``customer``, ``event``, ``identity`` or
  ``audit_log`` and no ``INSERT``/``DELETE`` on ``suppression``;
- *undo* sets ``audit_log.undone_by``: agents have no ``UPDATE`` on ``audit_log``;
- *reject* and its undo write ``merge_rejection``: agents only read it;
- *mail accounts*: agents may only record a sync's outcome (``UPDATE`` of
  ``account.last_sync_at`` and ``last_error``); adding, changing and removing are owners';
- *merge* and *split* move contact points between customers, and so does an import when
  one strong contact point (an email, a mobile, a platform id) ties two customers together:
  that auto-link is the identity rule at work, not a judgement call, and agents may make it.
  The change log tells the two apart: every merge and split writes its ``audit_log`` entry
  in the same transaction, and the row-level policy lets an agent insert only ``create``,
  ``shared`` and import-time ``merge`` entries (``details.auto`` true). A hand-made merge
  or split by an agent is refused by the server and nothing of it is kept.

  Limit: an agent who writes SQL by hand (psql) can still move contact-point links without
  a change-log entry, or label a merge as automatic; closing that needs the server to
  re-derive the identity rule (a ``SECURITY DEFINER`` function), which is not done.

Authors: a trigger stamps ``note.author`` and ``audit_log.author`` with ``current_user``
when a team member (a member of ``threadline_agent``, not a superuser) inserts a row, and
keeps the author when a row is updated, so nobody writes under someone else's name.
Rows copied by the database's owner (``migrate-store``) keep the authors they had.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.errors import UserFacingError

OWNER = "threadline_owner"
AGENT = "threadline_agent"

#: What an agent may write besides reading, per table (a table not named here: everything,
#: so the derived tables of later migrations keep working for an import).
AGENT_WRITES: dict[str, str] = {
    "customer": "INSERT, UPDATE",
    "identity": "INSERT, UPDATE",
    "customer_identity": "INSERT, DELETE",  # import-time auto-links (see above)
    "event": "INSERT, UPDATE",
    "event_participant": "INSERT, UPDATE, DELETE",
    "mention": "INSERT, UPDATE, DELETE",
    "order_info": "INSERT, UPDATE",
    "order_line": "INSERT, UPDATE, DELETE",
    "import_run": "INSERT, UPDATE",
    "import_problem": "INSERT, UPDATE",
    "note": "INSERT, UPDATE, DELETE",
    "setting": "INSERT, UPDATE",
    "audit_log": "INSERT",  # row-level security narrows it to import's entries
    "account": "UPDATE (last_sync_at, last_error)",
    "sync_state": "INSERT, UPDATE, DELETE",
    "column_mapping": "INSERT, UPDATE, DELETE",
    "suppression": "",
    "merge_rejection": "",
    "reply_mark": "INSERT, UPDATE",
    "waiting": "INSERT, UPDATE, DELETE",
    "alembic_version": "",
}
#: Tables an owner only reads (the schema's version is the database owner's to change).
OWNER_READ_ONLY = {"alembic_version"}

_AUTO_MERGE = "(action = 'merge' AND (details::jsonb ->> 'auto') = 'true')"


def _roles_missing(conn: Connection) -> list[str]:
    found = set(
        conn.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname IN (:o, :a)"), {"o": OWNER, "a": AGENT}
        ).scalars()
    )
    return [r for r in (OWNER, AGENT) if r not in found]


def create_roles(conn: Connection) -> None:
    """Create the two group roles when they do not exist, owner a member of agent.

    Raises:
        UserFacingError: they are missing and this sign-in may not create roles.
    """
    missing = _roles_missing(conn)
    if missing:
        may = conn.execute(
            text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        ).scalar()
        if not may:
            raise UserFacingError(
                "setting up the team roles needs the CREATEROLE privilege, which "
                f"{conn.execute(text('SELECT current_user')).scalar()} lacks: ask the "
                "server's administrator to run once: CREATE ROLE threadline_owner NOLOGIN; "
                "CREATE ROLE threadline_agent NOLOGIN; GRANT threadline_agent TO "
                "threadline_owner; (or to grant CREATEROLE), then open the database again"
            )
        for role in missing:
            conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
    member = conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
            "WHERE g.rolname = :a AND u.rolname = :o)"
        ),
        {"a": AGENT, "o": OWNER},
    ).scalar()
    if not member:
        conn.execute(text(f"GRANT {AGENT} TO {OWNER}"))


def _tables(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename"
            )
        ).scalars()
    )


def apply_grants(conn: Connection) -> None:
    """Grant the two roles what they may do on every table of the schema (idempotent)."""
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {AGENT}"))
    for table in _tables(conn):
        quoted = f'"{table}"'
        conn.execute(text(f"REVOKE ALL ON {quoted} FROM {AGENT}, {OWNER}"))
        conn.execute(text(f"GRANT SELECT ON {quoted} TO {AGENT}"))
        writes = AGENT_WRITES.get(table, "INSERT, UPDATE, DELETE")
        if writes:
            conn.execute(text(f"GRANT {writes} ON {quoted} TO {AGENT}"))
        if table not in OWNER_READ_ONLY:
            conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {quoted} TO {OWNER}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {AGENT}"))


def protect_change_log(conn: Connection) -> None:
    """Row-level security on ``audit_log``: agents insert import's entries only."""
    conn.execute(text("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY"))
    for name in ("team_read", "owner_write", "agent_import"):
        conn.execute(text(f"DROP POLICY IF EXISTS {name} ON audit_log"))
    conn.execute(text(f"CREATE POLICY team_read ON audit_log FOR SELECT TO {AGENT} USING (true)"))
    conn.execute(
        text(
            f"CREATE POLICY owner_write ON audit_log FOR ALL TO {OWNER} "
            "USING (true) WITH CHECK (true)"
        )
    )
    conn.execute(
        text(
            f"CREATE POLICY agent_import ON audit_log FOR INSERT TO {AGENT} "
            f"WITH CHECK (action IN ('create', 'shared') OR {_AUTO_MERGE})"
        )
    )


_STAMP = f"""
CREATE OR REPLACE FUNCTION threadline_stamp_author() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.author := OLD.author;
    ELSIF NOT COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
          AND pg_has_role(current_user, '{AGENT}', 'MEMBER') THEN
        NEW.author := current_user;
    END IF;
    RETURN NEW;
END
$$
"""


def stamp_authors(conn: Connection) -> None:
    """Triggers that write the signed-in role as the author of notes and changes."""
    conn.execute(text(_STAMP))
    for table in ("note", "audit_log"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS threadline_author ON {table}"))
        conn.execute(
            text(
                f"CREATE TRIGGER threadline_author BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION threadline_stamp_author()"
            )
        )


def remove(conn: Connection) -> None:
    """Undo ``protect_change_log`` and ``stamp_authors`` and revoke the grants (the roles
    stay: other databases on the server may use them)."""
    for table in ("note", "audit_log"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS threadline_author ON {table}"))
    conn.execute(text("DROP FUNCTION IF EXISTS threadline_stamp_author()"))
    for name in ("team_read", "owner_write", "agent_import"):
        conn.execute(text(f"DROP POLICY IF EXISTS {name} ON audit_log"))
    conn.execute(text("ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY"))
    if not _roles_missing(conn):
        for table in _tables(conn):
            conn.execute(text(f'REVOKE ALL ON "{table}" FROM {AGENT}, {OWNER}'))
        conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {AGENT}"))
