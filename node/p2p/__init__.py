"""The peer's transport: a py-libp2p host (TCP, Noise, Yamux, identify, ping), gossipsub topics
whose validators reject bad announcements at the edge, and a content-addressed blob protocol.

The node daemon composes these through :class:`loraswarm.node.p2p.service.P2PService`.
"""
