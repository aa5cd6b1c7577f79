// One MQTT.js client: connects to a URL (ws:// or wss://), subscribes to a topic, publishes a
// message to it and waits for it to come back; prints one JSON line with what happened and
// exits 0 on a round trip, 1 otherwise. Bounded by --timeout seconds.
//
// node mqttjs_roundtrip.js URL --topic T --message M [--qos Q] [--version 4|5] [--ca FILE]
//     [--cert FILE --key FILE] [--client-id ID] [--username U] [--timeout S]
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');

function parseArgs(argv) {
  const args = { url: argv[0], topic: 'js/test', message: 'hello', qos: 1, version: 4, timeout: 10 };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    args[key] = argv[i + 1];
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const options = {
  protocolVersion: Number(args.version),
  clientId: args.clientId || `mqttjs-${process.pid}`,
  reconnectPeriod: 0,
  connectTimeout: Number(args.timeout) * 1000,
};
if (args.username) options.username = args.username;
if (args.ca) options.ca = fs.readFileSync(args.ca);
if (args.cert) options.cert = fs.readFileSync(args.cert);
if (args.key) options.key = fs.readFileSync(args.key);
if (args.servername) options.servername = args.servername;

let finished = false;
function finish(code, result) {
  if (finished) return;
  finished = true;
  console.log(JSON.stringify(result));
  client.end(true, () => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}

const client = mqtt.connect(args.url, options);
setTimeout(() => finish(1, { ok: false, error: 'timeout' }), Number(args.timeout) * 1000).unref();
client.on('error', (err) => finish(1, { ok: false, error: String(err.message || err) }));
client.on('close', () => finish(1, { ok: false, error: 'connection closed' }));
client.on('connect', (connack) => {
  client.subscribe(args.topic, { qos: Number(args.qos) }, (err, granted) => {
    if (err) return finish(1, { ok: false, error: `subscribe: ${err.message}` });
    client.publish(args.topic, args.message, { qos: Number(args.qos) }, (perr) => {
      if (perr) finish(1, { ok: false, error: `publish: ${perr.message}` });
    });
  });
});
client.on('message', (topic, payload) => {
  finish(0, { ok: true, topic, payload: payload.toString() });
});
