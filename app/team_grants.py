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

  Hand-written SQL (migration 0015, ``guard_moves``): when an agent's transaction commits,
  every customer whose ``merged_into_id`` it changed must be merged exactly as a change-log
  merge entry that is not undone says (so no un-merging, and no merge without an entry), and
  every contact-point link it removed must belong to a customer now merged, or to a contact
  point that is now the business's own (the settings), or be back in place. Otherwise the
  server refuses the commit (``insufficient_privilege``).

  Limit: an agent who writes SQL by hand (psql) can still add contact-point links, or write
  a merge entry labelled automatic and then make the merge it names; that merge is then in
  the change log under the agent's own name, where an owner sees and undoes it. Closing it
  needs the server to re-derive the identity rule (a ``SECURITY DEFINER`` function).

Authors: a trigger stamps ``note.author``, ``audit_log.author`` and ``import_run.author``
(who imported or synced, and so brought in the run's events) with ``current_user`` when a
team member (a member of ``threadline_agent``, not a superuser) inserts a row, and keeps
the author when a row is updated, so nobody writes under someone else's name. Rows copied
by the database's owner (``migrate-store``) keep the authors they had.
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


def stamp_authors(conn: Connection, tables: tuple[str, ...] = ("note", "audit_log")) -> None:
    """Triggers that write the signed-in role as the author of notes, changes and imports."""
    conn.execute(text(_STAMP))
    for table in tables:
        conn.execute(text(f"DROP TRIGGER IF EXISTS threadline_author ON {table}"))
        conn.execute(
            text(
                f"CREATE TRIGGER threadline_author BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION threadline_stamp_author()"
            )
        )


_GUARD = f"""
CREATE OR REPLACE FUNCTION threadline_agent_only() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
       AND pg_has_role(current_user, '{AGENT}', 'MEMBER')
       AND NOT pg_has_role(current_user, '{OWNER}', 'MEMBER')
$$;

CREATE OR REPLACE FUNCTION threadline_guard_merged() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    now_into integer;
BEGIN
    IF NOT threadline_agent_only() THEN
        RETURN NULL;
    END IF;
    -- The row as the transaction leaves it (a later statement may have changed it again).
    SELECT merged_into_id INTO now_into FROM customer WHERE id = NEW.id;
    IF now_into IS DISTINCT FROM NEW.merged_into_id THEN
        RETURN NULL;  -- changed again later in the transaction: that change is checked
    END IF;
    IF now_into IS NOT NULL AND EXISTS (
        SELECT 1 FROM audit_log a
        WHERE a.action = 'merge' AND a.undone_by IS NULL
          AND (a.details::jsonb ->> 'merged') = NEW.id::text
          AND (a.details::jsonb ->> 'survivor') = now_into::text
    ) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'only an owner may merge, split or undo: customer % changed without a '
        'change-log entry', NEW.id USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION threadline_guard_unlinked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT threadline_agent_only()
       OR EXISTS (SELECT 1 FROM customer_identity
                  WHERE customer_id = OLD.customer_id AND identity_id = OLD.identity_id)
       OR EXISTS (SELECT 1 FROM customer
                  WHERE id = OLD.customer_id AND merged_into_id IS NOT NULL)
       OR NOT EXISTS (SELECT 1 FROM identity WHERE id = OLD.identity_id AND NOT is_own) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'only an owner may move contact points: the link of contact point % to '
        'customer % was removed without a merge', OLD.identity_id, OLD.customer_id
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def guard_moves(conn: Connection) -> None:
    """Refuse, at an agent's commit, a customer merged or un-merged without a change-log
    entry and a contact-point link removed outside a merge (see the module's text)."""
    conn.execute(text(_GUARD))
    conn.execute(text("DROP TRIGGER IF EXISTS threadline_guard ON customer"))
    conn.execute(
        text(
            "CREATE CONSTRAINT TRIGGER threadline_guard AFTER UPDATE OF merged_into_id "
            "ON customer DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "WHEN (OLD.merged_into_id IS DISTINCT FROM NEW.merged_into_id) "
            "EXECUTE FUNCTION threadline_guard_merged()"
        )
    )
    conn.execute(text("DROP TRIGGER IF EXISTS threadline_guard ON customer_identity"))
    conn.execute(
        text(
            "CREATE CONSTRAINT TRIGGER threadline_guard AFTER DELETE ON customer_identity "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION threadline_guard_unlinked()"
        )
    )


def unguard_moves(conn: Connection) -> None:
    """Undo ``guard_moves``."""
    for table in ("customer", "customer_identity"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS threadline_guard ON {table}"))
    for function in ("threadline_guard_merged", "threadline_guard_unlinked"):
        conn.execute(text(f"DROP FUNCTION IF EXISTS {function}()"))
    conn.execute(text("DROP FUNCTION IF EXISTS threadline_agent_only()"))


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
