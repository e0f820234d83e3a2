import type { ChatCompletionMessage } from '@npu-fleet/protocol'
import type { ChatMessage } from './text-generator.js'

/**
 * A wire chat message as the model's chat template takes it: text parts joined by newlines, and OpenAI's
 * `developer` role rendered as `system` (the role chat templates know).
 */
export function templateMessage(message: ChatCompletionMessage): ChatMessage {
  const content =
    typeof message.content === 'string'
      ? message.content
      : message.content.map((part) => part.text).join('\n')
  return { role: message.role === 'developer' ? 'system' : message.role, content }
}
