import os
import logging
import asyncio
from meshq.otel import otel_config
from meshq.agents.worker import Worker
from meshq.openai.tools import (
    OpenAIResponsesAdapter,
    OpenAIResponsesToolResponseAdapter,
)
from meshq.api.services import ServiceHost
from meshq.tools.storage import StorageToolkit

otel_config(service_name="worker")
log = logging.getLogger("worker")
log.info(f"Listening on {os.getenv('WORKER_QUEUE')}")

host = ServiceHost()  # port defaults to an available port if not assigned


@host.path(path="/worker", identity="storage-worker")
class StorageWorker(Worker):
    def __init__(self):
        super().__init__(
            queue=os.getenv("WORKER_QUEUE"),
            name="storage-worker",
            title="storage worker sample",
            description="this sample reads messages from a queue",
            llm_adapter=OpenAIResponsesAdapter(),
            tool_adapter=OpenAIResponsesToolResponseAdapter(),
            toolkits=[StorageToolkit()],
            rules=[
                "you will receive a message with instructions, process it and do what it says",
                "you are not an interactive agent so you must not ask the user questions",
            ],
        )

    async def process_message(self, *, chat_context, room, message, toolkits):
        log.info(f"processing {message}")
        response = await super().process_message(
            chat_context=chat_context, room=room, message=message, toolkits=toolkits
        )
        log.info(f"response {response}")


asyncio.run(host.run())
