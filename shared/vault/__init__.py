"""Where token pairs live: Azure Key Vault, or a local file store for development."""

from shared.settings import Settings
from shared.vault.base import SecretStore, StoredSecret, TransientStoreError
from shared.vault.token_vault import TokenVault, VaultedPair, VaultWriteFailed


def secret_store_from(settings: Settings) -> SecretStore:
    if settings.key_vault_url:
        from shared.vault.keyvault_store import KeyVaultStore

        return KeyVaultStore(settings.key_vault_url)
    from shared.vault.local_store import LocalFileStore

    assert settings.local_secrets_dir is not None  # load_settings guarantees one of the two
    return LocalFileStore(settings.local_secrets_dir)


__all__ = [
    "SecretStore",
    "StoredSecret",
    "TokenVault",
    "TransientStoreError",
    "VaultWriteFailed",
    "VaultedPair",
    "secret_store_from",
]
