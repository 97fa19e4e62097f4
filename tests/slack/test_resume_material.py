"""A message admitted by a process that died before answering it is resumed with everything it carried:
the people it mentions still count as personal data, and its files are read by the resuming replica."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session, select

from bot.memory.models import Decision, PendingDelivery
from bot.memory.store import Lease
from bot.recovery import DeliveryRecovery, replica_id
from bot.types import ChatMessage, FileRef
from tests.files.documents import pdf
from tests.slack.conftest import STAFF, SlackFactory
from tests.slack.fake_slack_api import TEAM


async def test_a_resumed_message_keeps_its_mentions_and_reads_its_files(make_slack: SlackFactory,
                                                                         tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = await make_slack(SWITCHBOARD_DATABASE_URL=db)
    report = first.api.add_file("report.pdf", pdf(["Quarterly report", "Deliveries rose by 4% in Q3."]),
                                mimetype="application/pdf")
    # what the adapter admitted before its ack ("<@U0TIGER01>" named "tiger" by users.info, a display name the
    # analyzer does not know), then the process died: no answer, no file read, nothing marked personal
    asked = ChatMessage(platform="slack", tenant=TEAM, channel="D0DM00001", thread="1700000000.990001", user=STAFF,
                        text="please ask tiger to check the attached report", mentions=("tiger",),
                        files=(FileRef(name="report.pdf", url=report["url_private_download"],
                                       mimetype="application/pdf"),),
                        event_id="Ev0DEAD01")
    admitted = await first.services.pipeline.admit(asked, lease=Lease(owner="dead/0", seconds=0.0))
    assert admitted is not None and admitted.turn is not None
    with Session(first.services.memory.engine) as s:
        [row] = s.exec(select(PendingDelivery)).all()
    stored = json.loads(row.material)  # no key in this test: the JSON as it is
    assert stored["mentions"] == ["tiger"] and [f["name"] for f in stored["files"]] == ["report.pdf"]

    second = await make_slack(SWITCHBOARD_DATABASE_URL=db)
    settings = second.services.settings
    recovery = DeliveryRecovery(memory=second.services.memory, resumers=[second.adapter],
                                lease=Lease(owner=replica_id(), seconds=settings.recovery_lease_s),
                                max_age_s=settings.recovery_max_age_s)
    assert await recovery.run_once() == 1
    assert second.llm.models_called() == ["eu-small"]  # the mention still names a person: never a US model
    sent = second.llm.requests[0]["messages"][-1]["content"]
    assert "[Attached file: report.pdf]" in sent and "Deliveries rose by 4% in Q3." in sent
    assert second.api.downloads == [report["id"]]
    with Session(second.services.memory.engine) as s:
        [decision] = s.exec(select(Decision)).all()
        [row] = s.exec(select(PendingDelivery)).all()
    assert decision.region == "eu" and "PERSON" in decision.entity_types.split(",")
    assert row.state == "delivered" and "report.pdf" not in row.material  # the file's text is in the message now
