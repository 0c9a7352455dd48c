// Turns the API contract (plain text, shared/seed/chattu-api.md) into assets/api-docs.json, the data the
// dashboard's /docs page draws. Run after the contract changes and commit the output:
//   node tests/browser/gen-api-docs.mjs [path/to/chattu-api.md]
// `--check` exits non-zero when the committed JSON is out of date.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const check = args.includes('--check');
const source = args.find((a) => !a.startsWith('--')) || fileURLToPath(new URL('../../../shared/seed/chattu-api.md', import.meta.url));
const output = fileURLToPath(new URL('../../assets/api-docs.json', import.meta.url));

// Top-level topics of the contract and the group each following endpoint belongs to.
const TOPICS = { 'API Overview': 'Overview', 'Chat Interface API': 'Chat', 'Groups & Channels API': 'Groups & channels', Webhooks: 'Webhooks' };
const SUBHEADINGS = new Set([
  'Authentication', 'Security & Rate Limiting', 'Quick Start', 'Request Parameters', 'Response Fields', 'Response Details',
  'Possible Error Responses:', 'Error Codes:', 'Webhook Payload Format', 'Webhook Headers', 'Webhook Response Format',
  'Webhook Implementation Example', 'Webhook Requirements',
]);
const JUNK = new Set(['Live API Authenticated Rate limited', 'Back to Home']);
const ENDPOINT = /^(GET|POST|PUT|PATCH|DELETE) (\/\S+)$/;
const CODE_LABEL = /^(?:(?:Request|Response) Example\b.*|View .*(?:Example|Structure|Headers|Format))$/;
const NOTE = /^(Note|Security|Rate Limiting|Timezone|Authentication|Real-time Updates|UTF-8 Support|Filtering|Message Delay|Read-Only Check|Supported Media Types|Default|Response|⚠️ Warning):\s*(.+)$/;
const BULLET = /^(\s*)•\s+(.*)$/;
const CONTINUES = /^(Headers:|Body:|Response Headers:|\[Binary)/;

function depthChange(line) {
  let delta = 0;
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') i++;
    else if (c === '"') inString = !inString;
    else if (!inString && (c === '{' || c === '[')) delta++;
    else if (!inString && (c === '}' || c === ']')) delta--;
  }
  return delta;
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

export function parse(text) {
  const lines = text.replace(/\r\n/g, '\n').split('\n').map((l) => l.replace(/\s+$/, ''));
  const doc = { title: '', intro: [], sections: [] };
  let section = null;
  let group = 'Overview';
  let i = 0;

  const push = (block) => (section ? section.blocks.push(block) : doc.intro.push(block));

  function readCode(label) {
    while (i < lines.length && !lines[i].trim()) i++;
    const start = i;
    const php = /PHP/.test(label);
    let depth = 0;
    for (; i < lines.length; i++) {
      const line = lines[i];
      if (php) {
        if (line.trim() === '?>') {
          i++;
          break;
        }
        continue;
      }
      depth += depthChange(line);
      if (depth <= 0 && line.trim()) {
        let j = i + 1;
        while (j < lines.length && !lines[j].trim()) j++;
        if (j >= lines.length || !CONTINUES.test(lines[j].trim())) {
          i++;
          break;
        }
        depth = 0;
      }
    }
    const code = lines.slice(start, i);
    const indent = Math.min(...code.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)[0].length));
    let body = code.map((l) => l.slice(indent)).join('\n').trim();
    // The contract's PHP example lost its opening lines when it was exported to text; say so.
    if (php && !body.startsWith('<?php')) body = '<?php\n// … the start of this example is missing from the API contract …\n' + body;
    const lang = php ? 'php' : /^[{[]/.test(body) ? 'json' : 'http';
    push({ t: 'code', label, lang, text: body });
  }

  function readList() {
    const root = [];
    const stack = [{ indent: -1, items: root }];
    while (i < lines.length && BULLET.test(lines[i])) {
      const [, spaces, item] = BULLET.exec(lines[i]);
      while (stack.length > 1 && spaces.length <= stack[stack.length - 1].indent) stack.pop();
      const node = { text: item, children: [] };
      stack[stack.length - 1].items.push(node);
      stack.push({ indent: spaces.length, items: node.children });
      i++;
    }
    push({ t: 'list', items: root });
  }

  while (i < lines.length) {
    const line = lines[i].trim();
    if (!line || JUNK.has(line)) {
      i++;
      continue;
    }
    if (!doc.title) {
      doc.title = line;
      i++;
      continue;
    }
    const endpoint = ENDPOINT.exec(line);
    if (TOPICS[line] || endpoint) {
      if (TOPICS[line]) group = TOPICS[line];
      section = endpoint
        ? { id: slug(endpoint[1] + ' ' + endpoint[2]), kind: 'endpoint', method: endpoint[1], path: endpoint[2], title: line, group: group === 'Overview' ? 'Core' : group, blocks: [] }
        : { id: slug(line), kind: 'topic', title: line, group, blocks: [] };
      doc.sections.push(section);
      i++;
      continue;
    }
    if (CODE_LABEL.test(line)) {
      i++;
      readCode(line.replace(/^View /, ''));
      continue;
    }
    if (/^[{[]/.test(line)) {
      readCode('');
      continue;
    }
    if (BULLET.test(lines[i])) {
      readList();
      continue;
    }
    if (SUBHEADINGS.has(line) || /^Event: \w+$/.test(line)) {
      push({ t: 'h', text: line.replace(/:$/, '') });
      i++;
      continue;
    }
    const note = NOTE.exec(line);
    push(note ? { t: 'note', label: note[1], text: note[2] } : { t: 'p', text: line });
    i++;
  }
  for (const s of doc.sections) {
    const first = s.blocks.find((b) => b.t === 'p' || b.t === 'note');
    s.summary = first ? first.text : '';
  }
  return doc;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!existsSync(source)) {
    console.error('API contract not found at ' + source + '; pass its path as the first argument.');
    process.exit(2);
  }
  const json = JSON.stringify(parse(readFileSync(source, 'utf8')), null, 1) + '\n';
  if (check) {
    const current = existsSync(output) ? readFileSync(output, 'utf8') : '';
    if (current !== json) {
      console.error('assets/api-docs.json is out of date: run node tests/browser/gen-api-docs.mjs');
      process.exit(1);
    }
    console.log('assets/api-docs.json is up to date');
  } else {
    writeFileSync(output, json);
    console.log('wrote ' + output);
  }
}
