// A js-libp2p 3.x peer for the interop test: TCP + Noise + Yamux + identify + gossipsub, keyed by
// the same secp256k1 account key as a Python peer would be (so its messages pass the edge's
// author == signer check). Driven like the Python peer: JSON lines on stdin, events on stdout.
//   LORASWARM_PEER_KEY=0x... node tests/p2p/js/peer.mjs <topic> [<multiaddr to dial> ...]

// Node 20 lacks Promise.withResolvers, which js-libp2p 3.x uses.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@libp2p/yamux')
const { identify } = await import('@libp2p/identify')
const { gossipsub } = await import('@libp2p/gossipsub')
const { privateKeyFromRaw } = await import('@libp2p/crypto/keys')
const { multiaddr } = await import('@multiformats/multiaddr')
const readline = await import('node:readline')

const [topic, ...dials] = process.argv.slice(2)
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const hex = (bytes) => Buffer.from(bytes).toString('hex')

const key = process.env.LORASWARM_PEER_KEY.replace(/^0x/, '')
const node = await createLibp2p({
  privateKey: privateKeyFromRaw(Buffer.from(key, 'hex')),
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, heartbeatInterval: 1000 })
  }
})

node.services.pubsub.addEventListener('message', (evt) => {
  const msg = evt.detail
  emit({ event: 'message', topic: msg.topic, data: hex(msg.data), from: msg.from?.toString() })
})
node.services.pubsub.subscribe(topic)
for (const addr of dials) {
  await node.dial(multiaddr(addr))
}
emit({ event: 'ready', peer_id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  let req = {}
  try {
    req = JSON.parse(line)
    if (req.op === 'publish') {
      const result = await node.services.pubsub.publish(req.topic, Buffer.from(req.data, 'hex'))
      emit({ reply: req.id, ok: true, recipients: result.recipients.length })
    } else if (req.op === 'stats') {
      emit({ reply: req.id, ok: true, topic_peers: node.services.pubsub.getSubscribers(req.topic ?? topic).length })
    } else {
      throw new Error(`unknown op ${req.op}`)
    }
  } catch (err) {
    emit({ reply: req.id, ok: false, error: String(err) })
  }
})
lines.on('close', async () => {
  await node.stop()
  process.exit(0)
})
