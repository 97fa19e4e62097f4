"""Encryption at rest for content columns: `EncryptedText`, Fernet tokens under `SWITCHBOARD_ENCRYPTION_KEY`.

A column typed `EncryptedText` stores a Fernet token (AES-128-CBC + HMAC-SHA256) when its engine has a
cipher (`attach_cipher`), plain text otherwise (development without a key). Reads tell the two apart by
the token's own prefix: every Fernet token starts with `gAAAAA` (version byte 0x80 and a 64-bit
timestamp, base64url), so rows written before a key was set stay readable and are encrypted by the next
`switchboard rotate-key`. A text stored without a key that happens to look like a token (or starts
with `plain:`) is stored as `plain:` + text, so no user input can pass for a token. Several keys
(comma-separated, the first is current) decrypt; only the first encrypts, which is how a key is rotated:
put the new key first, run `rotate-key`, drop the old one.

The cipher hangs on the engine's dialect, so two stores in one process (tests) each keep their own.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Column, Engine, MetaData, Table, Text, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from bot.errors import ConfigurationError

PLAIN_MARK = "plain:"  # without a key: put before a text that would read as a token (or starts with the mark)
TOKEN_PREFIX = "gAAAAA"  # base64url of 0x80 (Fernet's version) and the high bytes of a timestamp
_OVERHEAD_BYTES = 57  # version 1 + timestamp 8 + IV 16 + HMAC 32, around whole AES blocks of 16
_CIPHER_ATTR = "switchboard_cipher"
KEYGEN_HINT = ("make one with `switchboard keygen` and set it as SWITCHBOARD_ENCRYPTION_KEY (keep it in your "
               "secret store: without it the stored conversations cannot be read)")


class EncryptionKeyError(ConfigurationError):
    """A stored value cannot be decrypted with the configured keys, or a key is malformed."""


@dataclass(frozen=True, slots=True)
class FieldCipher:
    """The configured keys: the first encrypts, every one decrypts."""

    fernet: MultiFernet
    keys: int

    def encrypt(self, value: str) -> str:
        return self.fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        return self.fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def rotate(self, stored: str) -> str:
        """`stored` (a token under any configured key, or plain text) as a token under the current key."""
        if is_token(stored):
            return self.fernet.rotate(stored.encode("ascii")).decode("ascii")
        return self.encrypt(stored.removeprefix(PLAIN_MARK))


def build_cipher(keys: str) -> FieldCipher | None:
    """The cipher for SWITCHBOARD_ENCRYPTION_KEY (comma-separated keys, the current one first); None when empty."""
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        return None
    fernets = []
    for i, key in enumerate(parts, 1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, binascii.Error):
            raise EncryptionKeyError(f"SWITCHBOARD_ENCRYPTION_KEY: key {i} of {len(parts)} is not a Fernet key "
                                     f"(32 url-safe base64-encoded bytes); {KEYGEN_HINT}") from None
    return FieldCipher(MultiFernet(fernets), len(fernets))


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def is_token(value: str) -> bool:
    """True when `value` is shaped like a Fernet token (the prefix, base64url, a plausible length)."""
    if not value.startswith(TOKEN_PREFIX) or len(value) % 4:
        return False
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return len(raw) >= _OVERHEAD_BYTES + 16 and (len(raw) - _OVERHEAD_BYTES) % 16 == 0


def attach_cipher(engine: Engine, cipher: FieldCipher | None) -> None:
    """Make `EncryptedText` columns read and written through `engine` use `cipher` (None: plain text)."""
    setattr(engine.dialect, _CIPHER_ATTR, cipher)


def engine_cipher(engine: Engine) -> FieldCipher | None:
    cipher: FieldCipher | None = getattr(engine.dialect, _CIPHER_ATTR, None)
    return cipher


class EncryptedText(TypeDecorator[str]):
    """TEXT holding a Fernet token under the engine's cipher; plain text without one (see the module)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        cipher: FieldCipher | None = getattr(dialect, _CIPHER_ATTR, None)
        if value is None:
            return value
        if cipher is not None:
            return cipher.encrypt(value)
        return PLAIN_MARK + value if value.startswith(PLAIN_MARK) or is_token(value) else value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return value
        if not is_token(value):  # plain text: written without a key, or before encryption was switched on
            return value.removeprefix(PLAIN_MARK)
        cipher: FieldCipher | None = getattr(dialect, _CIPHER_ATTR, None)
        if cipher is None:
            raise EncryptionKeyError("stored conversations are encrypted but SWITCHBOARD_ENCRYPTION_KEY is not set; "
                                     "set it to the key they were written with")
        try:
            return cipher.decrypt(value)
        except InvalidToken:
            raise EncryptionKeyError("a stored value was encrypted with a key that is not in "
                                     "SWITCHBOARD_ENCRYPTION_KEY; add the old key after the current one "
                                     "(comma-separated) and run `switchboard rotate-key`") from None


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    table: str
    column: str
    key: str  # the table's single primary-key column


def encrypted_columns(metadata: MetaData) -> list[EncryptedColumn]:
    """Every `EncryptedText` column of the schema (with its table's primary key, for batching)."""
    found = []
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        for column in table.columns:
            if isinstance(column.type, EncryptedText) and len(keys) == 1:
                found.append(EncryptedColumn(table.name, column.name, keys[0].name))
    return found


def rotate_column(engine: Engine, cipher: FieldCipher, target: EncryptedColumn, *, batch: int = 500) -> int:
    """Re-encrypt every value of `target` under the cipher's current key, `batch` rows per transaction;
    plain-text rows get encrypted. Returns the number of rows rewritten. Raw values are read and written
    (untyped columns), so nothing is decrypted twice or encrypted on top of a token."""
    raw = Table(target.table, MetaData(), Column(target.key), Column(target.column))
    key, value = raw.c[target.key], raw.c[target.column]
    done, after = 0, None
    while True:
        with engine.begin() as conn:
            query = select(key, value).order_by(key).limit(batch)
            if after is not None:
                query = query.where(key > after)
            rows = conn.execute(query).all()
            for row_key, stored in rows:
                if stored is None:
                    continue
                try:
                    fresh = cipher.rotate(stored)
                except InvalidToken:
                    raise EncryptionKeyError(
                        f"{target.table}.{target.column} row {row_key} was encrypted with a key that is not in "
                        "SWITCHBOARD_ENCRYPTION_KEY; add that key after the current one and run again") from None
                conn.execute(update(raw).where(key == row_key).values({target.column: fresh}))
                done += 1
        if len(rows) < batch:
            return done
        after = rows[-1][0]
