"""On-premise models as a user configures them: a policy file (SWITCHBOARD_POLICY_FILE) and environment
variables only. An OpenAI-compatible server (vLLM, TGI, LocalAI, LM Studio) is an `openai/<model>` entry
with `api_base` and `api_key_env`; here the fake OpenAI-compatible server on loopback plays it."""

from __future__ import annotations

from typing import Any

from bot.types import ChatMessage
from tests.conftest import ALL_TASKS, ServicesFactory
from tests.fakes.openai_server import FakeOpenAI

ONPREM = "openai/meta-llama/Llama-3.1-8B-Instruct"  # vLLM names a model by its Hugging Face id


def onprem_policy(vllm_base_url: str, cloud_base_url: str) -> dict[str, Any]:
    """The README's on-premise entry next to a US cloud model that every rule prefers."""
    cloud = {"id": "openai/us-small", "region": "us", "tier": "cheap", "env": ["FAKE_US_KEY"],
             "api_key_env": "FAKE_US_KEY", "api_base": cloud_base_url, "input_price": 0.5, "output_price": 1.5}
    vllm = {"id": ONPREM, "region": "local", "tier": "cheap", "api_base": vllm_base_url,
            "api_key_env": "VLLM_API_KEY", "env": ["VLLM_API_KEY"], "input_price": 0, "output_price": 0}
    rules = {task: {"strategy": "task", "candidates": ["openai/us-small", ONPREM]} for task in ALL_TASKS}
    return {"version": 1, "models": [cloud, vllm], "rules": rules}


def msg(text: str, thread: str) -> ChatMessage:
    return ChatMessage(platform="test", tenant="T", channel="C", thread=thread, user="U1", text=text)


async def test_personal_data_is_answered_by_the_onprem_openai_compatible_server(
        make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    vllm = FakeOpenAI()  # a second server: the on-premise one, its own address
    await vllm.start()
    try:
        environ = {"FAKE_US_KEY": "sk-us-test", "VLLM_API_KEY": "token-onprem", "OPENAI_API_KEY": "sk-real-openai"}
        services = await make_services(policy=onprem_policy(vllm.base_url, fake_llm.base_url), environ=environ)
        personal = await services.pipeline.handle(
            msg("Please call Anna Nowak on +48 601 234 567 about her contract renewal.", "p"))
        assert (personal.model, personal.region) == (ONPREM, "local")
        assert "answer from meta-llama/Llama-3.1-8B-Instruct" in personal.text  # the on-premise server answered
        assert vllm.models_called() == ["meta-llama/Llama-3.1-8B-Instruct"] and fake_llm.requests == []
        # its own key from api_key_env, never LiteLLM's OPENAI_API_KEY (that would hand it the OpenAI key)
        assert vllm.authorizations == ["Bearer token-onprem"]

        public = await services.pipeline.handle(msg("What is the boiling point of water at sea level?", "q"))
        assert public.region == "us" and fake_llm.models_called() == ["us-small"]
        assert len(vllm.requests) == 1
    finally:
        await vllm.close()


async def test_without_its_variable_the_onprem_model_is_skipped_with_a_clear_message(
        make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services(policy=onprem_policy("http://127.0.0.1:9/v1", fake_llm.base_url),
                                   environ={"FAKE_US_KEY": "sk-us-test"})
    reply = await services.pipeline.handle(msg("Please call Anna Nowak on +48 601 234 567 today.", "p"))
    assert "VLLM_API_KEY" in reply.text and fake_llm.requests == []
