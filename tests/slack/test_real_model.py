"""One end-to-end pass with the shipped model (session fixture `engine`), not the fake classifier."""
from __future__ import annotations

import pytest

from bot.settings import Settings
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, card_for


def _model_available() -> bool:
    from bot.classify.version import read_config, resolve_model_dir

    try:
        settings = Settings(_env_file=None)
        read_config(resolve_model_dir(settings.coach_model_dir, settings.coach_model_store))
        return True
    except Exception:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _model_available(), reason="no trained model under models/ (run `coach train`)")
def test_real_model_card_in_russian(make_bot, engine):
    bot = make_bot(engine=engine)
    message, reply = bot.driver.message(CUSTOMER, "Мне дважды списали деньги за заказ 48213! Верните немедленно!", CHANNEL)
    assert reply.status == 200
    card = card_for(bot.fake, AGENTS[0], timeout=60)
    text = card.blocks_text()
    assert card.args["thread_ts"] == message["ts"]
    assert "*Language:* ru" in text
    assert "Send apology" in text or "Send boundary" in text
    assert any("\u0400" <= ch <= "\u04ff" for ch in text)  # the apology is in Russian
    assert bot.fake.visible_posts(CHANNEL) == []
