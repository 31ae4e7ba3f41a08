"""Synthetic task generators (the Python twin of tasks/synthetic_*.cpp; FORMAT.md is the contract).

Every item is a pure function of (seed, task, index): one splitmix64 stream per item, consumed in
the order written here and in the C++ code, so both produce byte-identical prompts and answers.
"""
import json
import sys

MASK = (1 << 64) - 1

NAMES = ["Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gina", "Hugo", "Ivy", "Jack",
         "Kate", "Leo", "Mia", "Nick", "Olga", "Paul", "Rosa", "Sam", "Tina", "Will"]
ITEMS = ["apples", "pens", "books", "cards", "eggs", "shells", "coins", "stamps", "toys", "cups"]
LETTERS = "ABCDE"

TASK_TAGS = {"synth_arith": 1, "synth_recall": 2, "synth_choice": 3, "synth_longgen": 4}

SYSTEM_TEXT = {
    "synth_arith": "Solve the problem step by step. End with: The answer is N.",
    "synth_recall": "Remember the code of every box. Answer with the code of the box asked.",
    "synth_choice": "Read the facts and pick the option that matches. End with: The answer is X.",
    "synth_longgen": "Answer every question in order. Start each answer with Answer_i: "
                     "and end it with The answer is N.",
}

# Sized so every default prompt fits the 384-token training window (CPU training budget).
DEFAULTS = {
    "synth_arith": {"shots": 2},
    "synth_recall": {"shots": 4, "facts_per_shot": 3},
    "synth_choice": {"shots": 2, "facts": 4},
    "synth_longgen": {"shots": 1, "questions": 3},
}


class rng:
    """splitmix64; below(n) is a plain modulo (the bias is irrelevant, equality with C++ is not)."""

    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n

    def between(self, lo, hi):  # inclusive
        return lo + self.below(hi - lo + 1)

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def shuffle(self, seq):
        for i in range(len(seq) - 1, 0, -1):
            j = self.below(i + 1)
            seq[i], seq[j] = seq[j], seq[i]


def item_rng(seed, task, index):
    h = (seed * 6364136223846793005 + TASK_TAGS[task]) & MASK
    h = (h * 6364136223846793005 + index) & MASK
    return rng(h)


# ---- arithmetic word problems (GSM8K layout) ----------------------------------------------------

def arith_problem(r):
    """Returns (question, chain of thought ending 'The answer is N.', N)."""
    kind = r.below(4)
    name = r.pick(NAMES)
    item = r.pick(ITEMS)
    if kind == 0:
        a, b = r.between(2, 30), r.between(2, 20)
        n = a + b
        q = f"{name} has {a} {item}. {name} buys {b} more {item}. How many {item} does {name} have now?"
        cot = f"{name} has {a} + {b} = {n} {item}."
    elif kind == 1:
        a = r.between(5, 30)
        b = r.between(1, a - 1)
        other = r.pick(NAMES)
        n = a - b
        q = f"{name} has {a} {item}. {name} gives {b} {item} to {other}. How many {item} does {name} have now?"
        cot = f"{name} has {a} - {b} = {n} {item}."
    elif kind == 2:
        a, b = r.between(2, 9), r.between(2, 9)
        n = a * b
        q = f"{name} buys {a} boxes of {item}. Each box has {b} {item}. How many {item} does {name} buy?"
        cot = f"{name} buys {a} * {b} = {n} {item}."
    else:
        a, b = r.between(2, 20), r.between(2, 15)
        s = a + b
        c = r.between(1, s - 1)
        other = r.pick(NAMES)
        n = s - c
        q = (f"{name} has {a} {item}. {name} buys {b} more {item} and gives {c} {item} to {other}. "
             f"How many {item} does {name} have now?")
        cot = f"{name} has {a} + {b} = {s} {item}. Then {s} - {c} = {n}."
    return q, f"{cot} The answer is {n}.", n


def gen_arith(r, p):
    user = []
    for i in range(p["shots"]):
        q, cot, _ = arith_problem(r)
        user.append({"kind": "shot", "shot_id": i, "text": f"Q: {q}\nA: {cot}\n\n"})
    q, cot, n = arith_problem(r)
    user.append({"kind": "question", "shot_id": -1, "text": f"Q: {q}"})
    return user, cot, str(n)


# ---- in-context recall ---------------------------------------------------------------------------

def gen_recall(r, p):
    n_facts = p["shots"] * p["facts_per_shot"]
    boxes = list(range(1, 100))
    r.shuffle(boxes)
    boxes = boxes[:n_facts]
    codes = [r.between(10, 99) for _ in range(n_facts)]

    def reply(j):  # restating the fact first makes the lookup a plain induction-head copy
        return f"Box {boxes[j]} holds {codes[j]}. The answer is {codes[j]}."

    user = []
    for i in range(p["shots"]):
        lo, hi = i * p["facts_per_shot"], (i + 1) * p["facts_per_shot"]
        facts = " ".join(f"Box {boxes[j]} holds {codes[j]}." for j in range(lo, hi))
        j = r.below(hi)  # exemplar asks any fact seen so far, so shots teach long-range lookup too
        user.append({"kind": "shot", "shot_id": i,
                     "text": f"{facts}\nQ: What does box {boxes[j]} hold?\nA: {reply(j)}\n\n"})
    j = r.below(n_facts)
    user.append({"kind": "question", "shot_id": -1, "text": f"Q: What does box {boxes[j]} hold?"})
    return user, reply(j), str(codes[j])


# ---- multiple choice from context ----------------------------------------------------------------

def choice_walk(options, code):
    """The reply's walk through the options up to the one holding `code`: `A 12 0, B 48 1.`, each
    option's number followed by 1 if it is the code, else 0. Every step is a forward lookup
    (recall's copy of a number two tokens after its key): the option's number after its letter,
    then the digit after that number: only the code was followed by ` 1` before, where the reply
    restated the asked fact (`Box 17 holds 48 1.`). The letters come in their fixed order, and the
    answer's letter is the last one written."""
    k = options.index(code)
    return ", ".join(f"{LETTERS[i]} {options[i]} {int(i == k)}" for i in range(k + 1)) + ".", LETTERS[k]


def choice_problem(r, boxes, codes):
    """Returns (text, answer, letter): a fact per box of `boxes` (box i holds codes[i]), the
    question and the five `codes` as options `Options: A 12, B 48, ..., E 33.`; the answer
    restates the fact (marked ` 1`), walks the options to the match and names its letter."""
    n = len(boxes)
    asked = r.below(n)
    options = list(codes)  # the codes of every fact (distractors from the context) plus spare ones
    r.shuffle(options)
    facts = " ".join(f"Box {boxes[i]} holds {codes[i]}." for i in range(n))
    listed = ", ".join(f"{LETTERS[i]} {options[i]}" for i in range(5)) + "."
    code = codes[asked]
    walk, letter = choice_walk(options, code)
    answer = f"Box {boxes[asked]} holds {code} 1. {walk} The answer is {letter}."
    return f"{facts}\nQ: What does box {boxes[asked]} hold?\nOptions: {listed}", answer, letter


def gen_choice(r, p):
    """Boxes and codes are distinct across the whole prompt, and no code is a box number: no
    shot states a conflicting fact, and a number in a walk was followed by ` 1` before only if
    it is the asked code."""
    n, problems = p["facts"], p["shots"] + 1
    boxes = list(range(1, 100))
    r.shuffle(boxes)
    boxes = boxes[:problems * n]
    codes = [c for c in range(10, 100) if c not in boxes]  # >= 90 - 45 = 5 * 9 codes
    r.shuffle(codes)
    user = []
    for i in range(problems):
        text, answer, letter = choice_problem(r, boxes[i * n:(i + 1) * n], codes[i * 5:(i + 1) * 5])
        if i < p["shots"]:
            user.append({"kind": "shot", "shot_id": i, "text": f"{text}\n{answer}\n\n"})
    user.append({"kind": "question", "shot_id": -1, "text": text})
    return user, answer, letter


# ---- LongGenBench-style: K questions, one generation ---------------------------------------------

def gen_longgen(r, p):
    m, k = p["shots"], p["questions"]
    shots = [arith_problem(r) for _ in range(m)]
    asked = [arith_problem(r) for _ in range(k)]
    user = [{"kind": "system", "shot_id": -1, "text": "Examples:\n"}]
    for i, (q, _, _) in enumerate(shots):
        user.append({"kind": "shot", "shot_id": i, "text": f"Question_{i + 1}:\n{q}\n"})
    for i, (_, cot, _) in enumerate(shots):
        user.append({"kind": "shot", "shot_id": i, "text": f"Answer_{i + 1}:\n{cot}\n\n"})
    questions = "\n".join(f"Question_{m + i + 1}:\n{q}" for i, (q, _, _) in enumerate(asked))
    user.append({"kind": "question", "shot_id": -1, "text": f"Following Question:\n{questions}"})
    answer = "\n".join(f"Answer_{m + i + 1}:\n{cot}" for i, (_, cot, _) in enumerate(asked))
    return user, answer, ",".join(str(n) for _, _, n in asked)


GENERATORS = {"synth_arith": gen_arith, "synth_recall": gen_recall,
              "synth_choice": gen_choice, "synth_longgen": gen_longgen}


def make_item(task, seed, index, params=None):
    p = dict(DEFAULTS[task])
    p.update(params or {})
    user, answer, gold = GENERATORS[task](item_rng(seed, task, index), p)
    return {"id": f"{task}-{seed}-{index}", "system": SYSTEM_TEXT[task], "user": user,
            "answer": answer, "gold": gold}


# ---- chat layout (Llama 3) -----------------------------------------------------------------------

DATE_BLOCK = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"


def chat_pieces(item, date_block):
    """The prompt as (is_special, text) pieces in Llama-3 chat layout, then the answer pieces."""
    user_text = "".join(s["text"] for s in item["user"])
    system = (DATE_BLOCK if date_block else "") + item["system"]
    prompt = [(True, "<|begin_of_text|>"), (True, "<|start_header_id|>"), (False, "system"),
              (True, "<|end_header_id|>"), (False, "\n\n" + system),
              (True, "<|eot_id|>"), (True, "<|start_header_id|>"), (False, "user"), (True, "<|end_header_id|>"),
              (False, "\n\n" + user_text.strip()), (True, "<|eot_id|>"), (True, "<|start_header_id|>"),
              (False, "assistant"), (True, "<|end_header_id|>"), (False, "\n\n")]
    answer = [(False, item["answer"]), (True, "<|eot_id|>")]
    return prompt, answer


if __name__ == "__main__":
    # synth.py TASK SEED N [key=value ...]: prints items as JSON lines (used by tests/synthetic).
    task, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    params = {kv.split("=")[0]: int(kv.split("=")[1]) for kv in sys.argv[4:]}
    for i in range(n):
        print(json.dumps(make_item(task, seed, i, params)))
