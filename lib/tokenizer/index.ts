// Tokenizers for GGUF-embedded vocabularies (tokenizer.ggml.*), matching llama.cpp's token ids.
// Usage: Tokenizer.fromGGUFMetadata(readGGUFHeader(path).metadata).
export { Tokenizer, TokenStreamDecoder, cleanSpaces, type EncodeOptions, type DecodeOptions } from './tokenizer.js';
export { type Vocab, TokenType, vocabFromGGUFMetadata } from './vocab.js';
export { EOG_TEXTS } from './attrs.js';
export { ChatTemplate, renderChatWithSpans, type ChatMessage, type ChatTemplateOptions, type MessageSpan, type RenderedChat } from './chat.js';
export { HFTokenizer, type TextTokenizer, type TextEncodeOptions, type TextDecodeOptions } from './hf.js';
