// The text the embedded tokenizer is trained on at build time. Mostly English (so common words merge into
// single tokens), some accented Latin, Greek, Cyrillic, CJK and emoji (so their multi-byte characters get
// partial merges: tokens that hold the first bytes of a character, which streaming must never cut).

/** Built-in training corpus of the embedded tokenizer. */
export const TINY_LLAMA_CORPUS = `The worker answers requests from the backend. It runs the model on the NPU when one is present,
and on the CPU when it is not. Every answer says which device computed it, and the health report tells
the truth about the state of each model at every moment.

You are a helpful assistant. Answer the question of the user in a short and friendly way.
Hello! How can I help you today? I would like to know how the fleet works.
The fleet is a group of workers. The pool sends each task to a worker that is healthy and has room.
When a worker fails, the pool tries another one, and the circuit breaker keeps failing workers away
until they recover. A language model generates text one token at a time: it reads the prompt, then it
predicts the next token, adds it to the text, and predicts again, until it reaches the end of the answer
or the limit of tokens.

What is the capital of France? The capital of France is Paris. What is two plus two? Two plus two is four.
Please summarize the following text in one sentence. The text is about the weather in the mountains.
It was cold in the morning, warm in the afternoon, and it rained in the evening.
Write a short poem about the sea. The sea is blue and wide, the waves come in with the tide.
Translate to German: good morning. Guten Morgen. Translate to French: thank you very much. Merci beaucoup.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2026 3.14 1,000,000 and dates like 2026-12-01 or 12:30.
Code: function add(a, b) { return a + b; } const x = [1, 2, 3]; if (x.length > 2) console.log("ok");
Punctuation: commas, periods. Questions? Exclamations! "Quotes" and 'apostrophes' don't, can't, it's, we're.

Café, naïve, résumé, façade, über, Straße, mañana, São Paulo, Zürich, Kraków, smørrebrød, Ærø.
Ελληνικά: καλημέρα κόσμε. Русский: привет, мир, спасибо. Українська: дякую.
中文：你好，世界。我们的模型在处理器上运行。今天天气很好。
日本語：こんにちは、世界。ありがとうございます。東京は大きい都市です。
한국어: 안녕하세요, 세계. 감사합니다.
Emoji: 😀 😃 😄 👍 🚀 ✨ ❤️ 🎉 and symbols like € £ ¥ © ® ™ → ← ≤ ≥ ∑ π ∞.
`
