/** Passes the chunks through, reporting each one's length (for restore progress). */
export async function* counted(chunks: AsyncIterable<Uint8Array>, onChunk: (bytes: number) => void): AsyncIterable<Uint8Array> {
  for await (const chunk of chunks) {
    onChunk(chunk.length);
    yield chunk;
  }
}
