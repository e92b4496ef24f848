// Reads a server-sent event stream (the API's watch and event streams) as an async iterator.

export interface SseMessage {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** Parses the stream (text/event-stream); ends when the server closes it. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let id: string | undefined;
  let data: string[] = [];
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (data.length > 0) yield { event, id, data: data.join('\n') };
        event = 'message';
        id = undefined;
        data = [];
      } else if (line.startsWith(':')) {
        // a comment (keepalive)
      } else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
    }
  }
}
