"""The IVR: AMI bridge, AsyncAGI channels, voice menu engine, prompts and speech.

Depends on ``knowledge_base`` only; what it needs from the outside world is declared as
``typing.Protocol`` interfaces in :mod:`ivr.ports`.
"""
