/**
 * Reading `GET /v1/events`: a server-sent event stream parsed frame by frame
 * (`id:` and `data:` lines, a blank line ends a frame, `:` lines are
 * comments) into the events the server published.
 */
import type { IncomingMessage } from 'node:http';
import type { PublishedEvent } from '../server/events.js';
import { RemoteError } from './transport.js';

/** The events of an open stream, in order, until the server ends it or the consumer stops. */
export async function* parseEventStream(res: IncomingMessage): AsyncGenerator<PublishedEvent, void, undefined> {
  res.setEncoding('utf8');
  let buffer = '';
  try {
    for await (const text of res) {
      buffer += (text as string).replace(/\r\n?/g, '\n');
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data !== '') {
          try {
            yield JSON.parse(data) as PublishedEvent;
          } catch (error) {
            throw new RemoteError(
              'PROTOCOL',
              `an event that is not JSON: ${JSON.stringify(data.slice(0, 200))}`,
              undefined,
              error,
            );
          }
        }
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    res.destroy();
  }
}
