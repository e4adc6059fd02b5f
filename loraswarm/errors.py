"""The typed errors that reach a user. The CLI prints each as one line and exits non-zero;
library callers catch them precisely."""


class LoraswarmError(Exception):
    """Base class: an error with a message meant for the user, never a traceback."""

    exit_code = 1


class CompileError(LoraswarmError):
    """The Solidity build failed (the message carries solc's first errors)."""


class ToolchainMissing(LoraswarmError):
    """A part of the toolchain (node, node_modules, a chain binary) is not installed."""


class ChainUnreachable(LoraswarmError):
    """No JSON-RPC endpoint answers at the given URL."""


class TransactionReverted(LoraswarmError):
    """A transaction was mined with a revert (the message names the call and the transaction)."""


class PortInUse(LoraswarmError):
    """The port a local chain should listen on is already taken."""


class ChainNotRunning(LoraswarmError):
    """No chain started by loraswarm is recorded in the state directory."""


class DeploymentMissing(LoraswarmError):
    """The deployment file does not exist or cannot be read."""


class DeploymentExists(LoraswarmError):
    """A deployment file for this chain exists; replacing it needs --force."""


class WrongChainId(LoraswarmError):
    """The connected chain is not the chain the deployment file was written for."""


class BadDeploymentFile(LoraswarmError):
    """The deployment file exists but is malformed."""


class BadRpcUrl(LoraswarmError):
    """An RPC endpoint is not an http(s) URL."""


class NoRpcUrl(LoraswarmError):
    """No RPC endpoint was given for a chain (the deployment file never names one)."""


class BadKey(LoraswarmError):
    """A private key (e.g. from an environment variable) is not a secp256k1 key."""


class BadAddress(LoraswarmError):
    """A text that should be an account address is not one."""


class Unfunded(LoraswarmError):
    """An account lacks the ETH (gas) or reward tokens (stake) an action needs; the message names
    the account, the chain, what is missing and where to get it."""


class NotFound(LoraswarmError):
    """A peer, round or file the user named does not exist (in the task, on the chain)."""


class BadAmount(LoraswarmError):
    """An ETH or LSW amount typed on a command line is not a positive, finite number of at most
    18 decimals."""
