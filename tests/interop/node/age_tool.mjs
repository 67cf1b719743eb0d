// A tiny age command over the npm package age-encryption (typage), for
// Shoal's post-quantum interoperability tests (tests/interop/test_node_hybrid.py).
//
//   node age_tool.mjs keygen                      print a hybrid identity, then its recipient
//   node age_tool.mjs recipient  < identity       print the recipient of an identity
//   node age_tool.mjs encrypt [--armor] R...      encrypt stdin to recipients, to stdout
//   node age_tool.mjs decrypt IDENTITY_FILE       decrypt stdin (binary or armored), to stdout
//
// The identity file is age's format: one key per line, "#" comments and
// blank lines ignored. Errors go to stderr with exit status 1.

import {
  Decrypter,
  Encrypter,
  armor,
  generateHybridIdentity,
  identityToRecipient,
} from "age-encryption";
import { readFileSync } from "node:fs";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

function writeStdout(bytes) {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (err) => (err ? reject(err) : resolve()));
  });
}

function identityLines(text) {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

async function main(argv) {
  const [command, ...args] = argv;
  switch (command) {
    case "keygen": {
      const identity = await generateHybridIdentity();
      await writeStdout(`${identity}\n${await identityToRecipient(identity)}\n`);
      return;
    }
    case "recipient": {
      const text = new TextDecoder().decode(await readStdin());
      const [identity] = identityLines(text);
      await writeStdout(`${await identityToRecipient(identity)}\n`);
      return;
    }
    case "encrypt": {
      const useArmor = args[0] === "--armor";
      const recipients = useArmor ? args.slice(1) : args;
      if (recipients.length === 0) throw new Error("encrypt: no recipients");
      const e = new Encrypter();
      for (const r of recipients) e.addRecipient(r);
      const ciphertext = await e.encrypt(await readStdin());
      await writeStdout(useArmor ? armor.encode(ciphertext) : ciphertext);
      return;
    }
    case "decrypt": {
      if (args.length !== 1) throw new Error("decrypt: give one identity file");
      const d = new Decrypter();
      for (const id of identityLines(readFileSync(args[0], "utf8"))) d.addIdentity(id);
      let input = await readStdin();
      const head = new TextDecoder().decode(input.subarray(0, 64)).trimStart();
      if (head.startsWith("-----BEGIN")) input = armor.decode(new TextDecoder().decode(input));
      await writeStdout(await d.decrypt(input));
      return;
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`age_tool: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
}
