"""The ordered validation pipeline and its checks (cheap first), each returning a reason code."""
